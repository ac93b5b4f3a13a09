import { promises as fs } from 'fs';
import * as path from 'path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { BoatDataError } from '../../lib/errors';
import { admitOperator, fleetBoats } from '../../lib/fleet/fleet-boats';
import { PAGE_FILES, PAGE_HEADERS } from '../../lib/fleet/page-files';
import { withoutCors } from '../../lib/http/cors';
import { checkDatabaseSetting, useSharedStore } from '../../lib/ingest/store';
import { handleInput, status } from '../shared/adapter';
import { resolveEnv } from '../shared/boat-config';

interface FleetPageDef extends NodeDef {
    /** 'page': the page's own files (no data in them); 'boats': its data, for an operator token. */
    operation: string;
    /** As the ingest nodes': `${D3KOS_INGEST_DIR}` and `${D3KOS_INGEST_DATABASE_URL}` in the shipped flow. */
    dataDir: string;
    database?: string;
}

type Message = NodeMessage & Record<string, any>;

/** The fleet page: GET /fleet (and its script and style) behind one http in, GET /api/v1/fleet/boats behind another. */
export = function (RED: NodeAPI): void {
    function FleetPageNode(this: Node, def: FleetPageDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const operation = def.operation === 'boats' ? 'boats' : 'page';
        const dataDir = resolveEnv(def.dataDir).trim() || path.join(RED.settings.userDir ?? '.', 'd3kos-ingest');
        let shared: ReturnType<typeof useSharedStore> | undefined;
        let settingsError: Error | undefined;
        try {
            if (operation === 'boats') shared = useSharedStore(dataDir, checkDatabaseSetting(resolveEnv(def.database ?? '')));
        } catch (err) {
            settingsError = err as Error;
            status.error(node, err);
        }
        shared?.opening.then(
            () => status.ok(node, RED._('fleet-page.status.ready')),
            (err) => status.error(node, err),
        );

        handleInput(node, async (msg: Message, send) => {
            if (msg.res?._res) withoutCors(msg.res._res);
            if (operation === 'page') {
                const file = pageFile(msg.req?.params?.file);
                msg.payload = await fs.readFile(path.join(__dirname, 'page', file.name), 'utf8');
                msg.headers = { ...PAGE_HEADERS, 'Content-Type': file.type };
            } else {
                if (!shared) throw settingsError;
                // A message from within the flow (an inject, say) is the operator's own; an HTTP request shows its bearer.
                if (msg.req) await admitOperator(msg.req.headers?.authorization, dataDir);
                const answer = await fleetBoats(await shared.opening, msg.req?.query ?? msg.query ?? {});
                msg.payload = answer;
                msg.headers = { 'Cache-Control': 'no-store', 'Content-Type': 'application/json; charset=utf-8' };
                status.ok(node, RED._('fleet-page.status.answered', { total: answer.total, silent: answer.silent }));
            }
            msg.statusCode = 200;
            send(msg);
        });

        node.on('close', (_removed: boolean, done: () => void) => {
            (shared ? shared.release() : Promise.resolve()).then(done, done);
        });
    }

    RED.nodes.registerType('d3kos-fleet-page', FleetPageNode);
};

function pageFile(requested: unknown): { name: string; type: string } {
    const name = requested === undefined || requested === '' ? 'fleet.html' : String(requested);
    const type = PAGE_FILES.get(name);
    if (!type) throw new BoatDataError('FLEET_PAGE_FILE', `the fleet page has no file ${JSON.stringify(name.slice(0, 40))}`, 404);
    return { name, type };
}
