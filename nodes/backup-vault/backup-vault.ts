import * as path from 'path';
import type { IncomingMessage, ServerResponse } from 'http';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { status } from '../shared/adapter';
import { resolveEnv } from '../shared/boat-config';
import { errorMessage } from '../../lib/errors';
import { registerVault } from '../../lib/central/vault-registry';
import { parseIngestMode } from '../../lib/ingest/access';
import { checkDatabaseSetting } from '../../lib/ingest/store';
import { DEFAULT_VAULT_KEEP } from '../../lib/vault/store';
import { UPLOAD_ROUTE } from '../../lib/vault/routes';
import { Vault } from '../../lib/vault/vault';

interface VaultDef extends NodeDef {
    /** The ingest's data folder: devices.json and operators.json authorise. */
    dataDir: string;
    /** Where copies and uploads live (`${D3KOS_VAULT_DIR}`: a volume every instance mounts); empty: the data folder. Absent in older flows. */
    folder?: string;
    /** The ingest's database setting (`${D3KOS_INGEST_DATABASE_URL}`): PostgreSQL holds the locks of every instance. Absent in older flows. */
    database?: string;
    mode: string;
    keep: string | number;
    maxGB: string | number;
    /** Per boat, copies and unfinished uploads together; empty: automatic. Absent in older flows. */
    quotaGB?: string | number;
    expireHours?: string | number;
    checkHours?: string | number;
}

interface ExpressLike {
    use(handler: unknown): void;
    path(): string;
    parent?: ExpressLike;
    _router?: { stack: Array<{ handle?: unknown }> };
}

const HOUR = 60 * 60 * 1000;
const positive = (value: unknown, fallback: number) => (Number(value) > 0 ? Number(value) : fallback);

/**
 * The central side's vault of boats' encrypted backups. It serves its own
 * routes on Node-RED's http app (tus needs POST, HEAD and PATCH with the
 * body unread, which an http-in node does not give), ahead of the flow's
 * http-in routes so `GET /api/v1/installations/:id/backups` is not taken by
 * a wider route such as the ingest's `/:id/:category`. Its preflights and
 * tus discovery are answered in front of Node-RED's editor app, whose CORS
 * layer would otherwise answer them for every origin.
 */
export = function (RED: NodeAPI): void {
    function BackupVaultNode(this: Node, def: VaultDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const app = RED.httpNode as unknown as ExpressLike;
        const mountPath = app.path() === '/' ? '' : app.path();
        let vault: Vault;
        try {
            const dataDir = resolveEnv(def.dataDir).trim() || path.join((RED.settings as { userDir?: string }).userDir ?? '.', 'd3kos-ingest');
            vault = new Vault(
                {
                    dataDir,
                    folder: resolveEnv(def.folder ?? '').trim() || dataDir,
                    database: checkDatabaseSetting(resolveEnv(def.database ?? '')),
                    mode: parseIngestMode(resolveEnv(def.mode)),
                    keep: Number(def.keep) >= 1 ? Math.floor(Number(def.keep)) : DEFAULT_VAULT_KEEP,
                    maxBytes: positive(def.maxGB, 8) * 1024 ** 3,
                    quotaBytes: positive(def.quotaGB, 0) * 1024 ** 3,
                    expireMs: positive(def.expireHours, 6) * HOUR,
                    checkEveryMs: positive(def.checkHours, 24) * HOUR,
                    onCopy: (installation, copy) => {
                        status.ok(node, `${installation}: ${copy.name.slice(13, 28)}`);
                        node.send({ topic: 'vault/copy', payload: { installation_id: installation, ...copy } } as NodeMessage);
                    },
                    onDamaged: (installation, copy) => {
                        node.warn(RED._('backup-vault.errors.damaged', { installation, name: copy.name }));
                        node.send({ topic: 'vault/damaged', payload: { installation_id: installation, ...copy } } as NodeMessage);
                    },
                    onUnexpected: (err) => node.error(errorMessage(err)),
                },
                mountPath,
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
            vault.handle(req, res, () => {
                req.url = url;
                next();
            });
        };
        // In front of everything, the editor's app included: the vault's preflights and discovery, and its upload
        // bodies kept unread (the flag the editor's body parsers go by).
        const front = (req: IncomingMessage & { _body?: boolean }, res: ServerResponse, next: () => void) => {
            const url = (req.url ?? '').split('?')[0];
            if (!url.startsWith(mountPath + '/api/v1/')) return next();
            if (url.startsWith(mountPath + UPLOAD_ROUTE)) req._body = true;
            if (req.method === 'OPTIONS') return vault.handle(req, res, next);
            next();
        };
        const root = rootOf(app);
        app.use(serve);
        moveFirst(app, serve);
        if (root !== app) {
            root.use(front);
            moveFirst(root, front);
        }
        const unregister = registerVault(vault);
        status.ok(node, 'serving /api/v1/backup-uploads');

        node.on('close', (done: () => void) => {
            unregister();
            remove(app, serve);
            remove(root, front);
            vault.close().then(done, done);
        });
    }

    RED.nodes.registerType('d3kos-backup-vault', BackupVaultNode);
};

function rootOf(app: ExpressLike): ExpressLike {
    return app.parent ? rootOf(app.parent) : app;
}

function moveFirst(app: ExpressLike, handle: unknown): void {
    const stack = app._router?.stack ?? [];
    const at = stack.findIndex((layer) => layer.handle === handle);
    if (at > 0) stack.unshift(...stack.splice(at, 1));
}

function remove(app: ExpressLike, handle: unknown): void {
    const stack = app._router?.stack ?? [];
    const at = stack.findIndex((layer) => layer.handle === handle);
    if (at >= 0) stack.splice(at, 1);
}
