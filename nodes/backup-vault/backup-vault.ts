import * as path from 'path';
import type { IncomingMessage, ServerResponse } from 'http';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { status } from '../shared/adapter';
import { resolveEnv } from '../shared/boat-config';
import { errorMessage } from '../../lib/errors';
import { parseIngestMode } from '../../lib/ingest/access';
import { DEFAULT_VAULT_KEEP } from '../../lib/vault/store';
import { vaultHandler, VaultHandler } from '../../lib/vault/routes';

interface VaultDef extends NodeDef {
    /** The ingest's data folder: devices.json and operators.json authorise, backup-vault/ holds the copies. */
    dataDir: string;
    mode: string;
    keep: string | number;
    maxGB: string | number;
}

interface ExpressLike {
    use(handler: unknown): void;
    path(): string;
    _router?: { stack: Array<{ handle?: unknown }> };
}

/**
 * The central side's vault of boats' encrypted backups. It serves its own
 * routes on Node-RED's http app (tus needs POST, HEAD and PATCH with the
 * body unread, which an http-in node does not give), ahead of the flow's
 * http-in routes so `GET /api/v1/installations/:id/backups` is not taken by
 * a wider route such as the ingest's `/:id/:category`.
 */
export = function (RED: NodeAPI): void {
    function BackupVaultNode(this: Node, def: VaultDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        let handler: VaultHandler;
        try {
            const dataDir = resolveEnv(def.dataDir).trim() || path.join((RED.settings as { userDir?: string }).userDir ?? '.', 'd3kos-ingest');
            const keep = Number(def.keep) >= 1 ? Math.floor(Number(def.keep)) : DEFAULT_VAULT_KEEP;
            const maxBytes = (Number(def.maxGB) > 0 ? Number(def.maxGB) : 8) * 1024 ** 3;
            const app = RED.httpNode as unknown as ExpressLike;
            handler = vaultHandler(
                {
                    dataDir,
                    mode: parseIngestMode(resolveEnv(def.mode)),
                    keep,
                    maxBytes,
                    onCopy: (installation, copy) => {
                        status.ok(node, `${installation}: ${copy.name.slice(13, 28)}`);
                        node.send({ topic: 'vault/copy', payload: { installation_id: installation, ...copy } } as NodeMessage);
                    },
                },
                app.path() === '/' ? '' : app.path(),
            );
        } catch (err) {
            status.error(node, err);
            node.error(errorMessage(err));
            return;
        }
        // Node-RED's http app only sees paths below its root; req.url there is the full path.
        const serve = (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, next: () => void) => {
            const url = req.url;
            req.url = req.originalUrl ?? url;
            handler(req, res, () => {
                req.url = url;
                next();
            });
        };
        const app = RED.httpNode as unknown as ExpressLike;
        app.use(serve);
        const stack = app._router?.stack ?? [];
        const at = stack.findIndex((layer) => layer.handle === serve);
        if (at > 0) stack.unshift(...stack.splice(at, 1));
        status.ok(node, 'serving /api/v1/backup-uploads');

        node.on('close', (done: () => void) => {
            const layers = app._router?.stack ?? [];
            const mine = layers.findIndex((layer) => layer.handle === serve);
            if (mine >= 0) layers.splice(mine, 1);
            done();
        });
    }

    RED.nodes.registerType('d3kos-backup-vault', BackupVaultNode);
};
