import * as path from 'path';
import type { Readable } from 'stream';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { BoatDataError, errorMessage } from '../../lib/errors';
import { admitReader, FLEET_READER, parseIngestMode, Reader } from '../../lib/ingest/access';
import { DEFAULT_MAX_BODY_BYTES } from '../../lib/ingest/body';
import { fleetHealth, health, IngestSettings, listInstallations, readCategory, readCategoryJson, readerIfAny, readImportedExport, receiveUpload, Upload } from '../../lib/ingest/ingest';
import { ImportOutcome, importRoute, ImportTarget } from '../../lib/ingest/import-route';
import { eraseInstallation } from '../../lib/ingest/erasure';
import { parseRetention, Retention, scheduleRetention } from '../../lib/ingest/retention';
import { spoolFolderFor } from '../../lib/ingest/spool-folder';
import { withoutCors } from '../../lib/http/cors';
import { checkDatabaseSetting, IngestStore, useSharedStore } from '../../lib/ingest/store';
import { handleInput, status } from '../shared/adapter';
import { resolveEnv } from '../shared/boat-config';
import { guardIngestEdge, servePost, ServedRoute } from './http-route';

const OPERATIONS = ['import', 'health', 'installations', 'category', 'export', 'fleet-health', 'erase'] as const;
type Operation = (typeof OPERATIONS)[number];

interface IngestDef extends NodeDef {
    /** One of OPERATIONS, or 'msg' to take msg.operation. */
    operation: string;
    /** `${D3KOS_INGEST_DIR}` in the shipped flow; empty: a folder in Node-RED's user directory. */
    dataDir: string;
    /** `${D3KOS_INGEST_MODE}` in the shipped flow: open or tokens; empty: tokens. */
    mode: string;
    /**
     * `${D3KOS_INGEST_DATABASE_URL}` in the shipped flow: a postgres:// URL (any number of ingest instances on
     * one database), or empty for the SQLite file in the data folder. Absent in flows from before it existed.
     */
    database?: string;
    maxBodyMB: string | number;
    /**
     * import only: the path this node serves POST on itself, so the upload
     * stream reaches it unread (`/api/v1/data/import` in the shipped flow).
     * Empty or absent (flows from before it existed): behind an http-in node.
     */
    route?: string;
    /** `${D3KOS_INGEST_RETENTION}` on the shipped import node: days per category (`telemetry=400, …`); empty keeps all. */
    retention?: string;
}

type Message = NodeMessage & Record<string, any>;

export = function (RED: NodeAPI): void {
    function IngestNode(this: Node, def: IngestDef): void {
        RED.nodes.createNode(this, def);
        const node = this;

        // A setting that cannot work fails every message with its reason, and shows it, rather than guessing.
        let settings: IngestSettings | undefined;
        let database = '';
        let settingsError: Error | undefined;
        let retention: Retention = new Map();
        try {
            retention = parseRetention(resolveEnv(def.retention ?? ''));
            database = checkDatabaseSetting(resolveEnv(def.database ?? ''));
            settings = {
                dataDir: resolveEnv(def.dataDir).trim() || path.join(RED.settings.userDir ?? '.', 'd3kos-ingest'),
                mode: parseIngestMode(resolveEnv(def.mode)),
                maxBodyBytes: maxBodyBytes(def.maxBodyMB),
            };
        } catch (err) {
            settingsError = err as Error;
            status.error(node, err);
        }

        const shared = settings ? useSharedStore(settings.dataDir, database) : undefined;
        const route = def.operation === 'import' ? routePath(def.route) : '';
        if (shared && settings) {
            const mode = settings.mode;
            shared.opening.then(
                () => status.ok(node, route ? RED._('ingest.status.serving', { mode, route }) : RED._('ingest.status.ready', { mode })),
                (err) => status.error(node, err),
            );
        }

        // What a killed Node-RED left in the upload spool goes now, not at the first large upload.
        if (settings && def.operation === 'import') spoolFolderFor(settings.dataDir).catch((err) => status.error(node, err));

        // Old rows go on the store this node shares, in batches between imports.
        let retained: { stop: () => Promise<void> } | undefined;
        let closing = false;
        if (shared && retention.size > 0) {
            shared.opening.then(
                (store) => {
                    if (closing) return;
                    retained = scheduleRetention(store, retention, (run) => {
                        if (run instanceof Error) node.warn(RED._('ingest.errors.retention', { error: errorMessage(run) }));
                        else if (Object.values(run.deleted).some((n) => n > 0)) node.log(RED._('ingest.status.retention', { deleted: JSON.stringify(run.deleted) }));
                    });
                },
                () => undefined,
            );
        }

        const unguard = RED.settings.httpNodeRoot === false ? undefined : guardIngestEdge(RED);
        const served = route
            ? serveImports(node, route, async () => {
                  if (!settings || !shared) throw settingsError;
                  return { store: await shared.opening, settings };
              })
            : undefined;

        handleInput(node, async (msg, send) => {
            // No web page may read an ingest answer: Node-RED's editor app allows every origin on every route.
            if (msg.res?._res) withoutCors(msg.res._res);
            if (!settings || !shared) throw settingsError;
            const store = await shared.opening;
            const operation = operationOf(def.operation, msg);
            msg.payload = await answer(operation, store, settings, msg, node);
            msg.statusCode = 200;
            send(msg);
        });

        node.on('close', (_removed: boolean, done: () => void) => {
            served?.remove();
            unguard?.();
            closing = true;
            // The store closes after its last node, once the import under way and the retention batch have finished.
            (retained?.stop() ?? Promise.resolve()).then(() => (shared ? shared.release() : undefined)).then(done, done);
        });
    }

    /** Serves the import route itself, so Node-RED's http-in never reads an upload whole before the ingest sees it. */
    function serveImports(node: Node, route: string, target: () => Promise<ImportTarget>): ServedRoute | undefined {
        if (RED.settings.httpNodeRoot === false) {
            node.warn(RED._('ingest.errors.no-http', { route }));
            return undefined;
        }
        const served = servePost(
            RED,
            route,
            importRoute(target, (outcome) => reportImport(node, outcome)),
        );
        if (served.taken) node.warn(RED._('ingest.errors.route-taken', { route }));
        return served;
    }

    /** An upload on the node's own route: shown on the node, sent on as a message, a refusal reported to Catch nodes. */
    function reportImport(node: Node, outcome: ImportOutcome): void {
        if ('answer' in outcome) {
            const { answer: result } = outcome;
            const key = result.already_imported ? 'ingest.status.already' : 'ingest.status.imported';
            status.ok(node, RED._(key, { records: result.records_imported, installation: result.installation_id }));
            node.send({ payload: result, statusCode: 200 });
            return;
        }
        status.error(node, outcome.error);
        const code = outcome.error instanceof BoatDataError ? outcome.error.code : undefined;
        node.error(outcome.error, { payload: { status: 'error', error: errorMessage(outcome.error) }, statusCode: outcome.statusCode, error_code: code } as NodeMessage);
    }

    async function answer(operation: Operation, store: IngestStore, settings: IngestSettings, msg: Message, node: Node): Promise<unknown> {
        const params = { ...(msg.req?.query ?? {}), ...(msg.req?.params ?? {}) };
        // A message from within the flow (an inject, say) is the operator's own; an HTTP request shows its bearer.
        const authorization = msg.req?.headers?.authorization;
        const reader = (): Promise<Reader> => (msg.req ? admitReader(settings.mode, authorization, settings.dataDir) : Promise.resolve(FLEET_READER));
        switch (operation) {
            case 'import': {
                status.working(node, RED._('ingest.status.importing'));
                const result = await receiveUpload(store, settings, uploadOf(msg));
                const key = result.already_imported ? 'ingest.status.already' : 'ingest.status.imported';
                status.ok(node, RED._(key, { records: result.records_imported, installation: result.installation_id }));
                return result;
            }
            case 'health':
                return health(store, settings, msg.req ? await readerIfAny(settings, authorization) : FLEET_READER);
            case 'installations':
                return listInstallations(store, await reader(), { after: params.after, limit: params.limit });
            case 'fleet-health':
                return fleetHealth(store, await reader(), { days: params.days ?? msg.days, limit: params.limit });
            case 'category': {
                const query = {
                    installation_id: params.id ?? params.installation_id ?? msg.installation_id,
                    category: params.category ?? msg.category,
                    offset: params.offset,
                    limit: params.limit,
                    after: params.after,
                };
                if (!msg.req) return readCategory(store, query, await reader(), settings.limits);
                // An HTTP read is answered as the JSON text built around the stored rows, parsed by nobody on the way.
                msg.headers = { ...(msg.headers ?? {}), 'content-type': 'application/json; charset=utf-8' };
                return readCategoryJson(store, query, await reader(), settings.limits);
            }
            case 'export':
                return readImportedExport(store, params.export_id ?? msg.export_id, await reader());
            case 'erase': {
                const body = msg.payload !== null && typeof msg.payload === 'object' && !Buffer.isBuffer(msg.payload) ? (msg.payload as { confirm?: unknown }) : {};
                return eraseInstallation(store, settings, await reader(), params.id ?? msg.installation_id, params.confirm ?? body.confirm ?? msg.confirm);
            }
        }
    }

    RED.nodes.registerType('d3kos-ingest', IngestNode);
};

function operationOf(setting: string, msg: Message): Operation {
    const chosen = setting === 'msg' || !setting ? msg.operation : setting;
    if ((OPERATIONS as readonly string[]).includes(chosen)) return chosen as Operation;
    throw new BoatDataError('INGEST_OPERATION', `ingest operation ${JSON.stringify(chosen ?? '')} is not known; use one of ${OPERATIONS.join(', ')}`, 500);
}

/**
 * The upload on a message from an http-in node: the request stream when it
 * is still unread, else the raw bytes the http-in node read whole, with no
 * limit, before any flow node ran (so a public ingest uses the node's route).
 */
function uploadOf(msg: Message): Upload {
    const req = msg.req as (Readable & { headers: Upload['headers']; _body?: boolean }) | undefined;
    if (!req) throw new BoatDataError('INGEST_NO_UPLOAD', 'the message carries no upload: wire a POST http-in node (with "Do not parse request body") to the ingest', 400);
    if (!req._body && !req.readableEnded) return { headers: req.headers, body: req };
    if (Buffer.isBuffer(msg.payload)) return { headers: req.headers, body: msg.payload };
    throw new BoatDataError('INGEST_BODY_PARSED', 'the http-in node in front of the ingest parsed the upload; tick its "Do not parse request body" option', 500);
}

function routePath(setting: string | undefined): string {
    const route = resolveEnv(setting).trim();
    return route === '' || route.startsWith('/') ? route : `/${route}`;
}

function maxBodyBytes(setting: string | number | undefined): number {
    if (setting === undefined || setting === '') return DEFAULT_MAX_BODY_BYTES;
    const mb = Number(resolveEnv(String(setting)));
    if (!Number.isFinite(mb) || mb <= 0 || mb > 4096)
        throw new BoatDataError('INGEST_LIMIT', `the upload limit must be a number of MB (as sent, gzip) from 1 to 4096, not ${JSON.stringify(setting)}`, 500);
    return Math.round(mb * 1024 * 1024);
}
