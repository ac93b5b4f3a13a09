import * as path from 'path';
import type { Readable } from 'stream';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { CATEGORY_KEYS, isCategoryKey } from '../categories';
import { BoatDataError } from '../errors';
import { admitReader, admitUploader, bearerToken, checkExportOwner, checkReads, IngestMode, Reader } from './access';
import { readUploadBody, UploadHeaders } from './body';
import { ImportAnswer, ImportedExport, IngestStore, InstallationSummary } from './store';

/** How one ingest answers: its data folder, who it lets in, how big an export may be. */
export interface IngestSettings {
    dataDir: string;
    mode: IngestMode;
    maxBodyBytes: number;
}

export interface Upload {
    headers: UploadHeaders & { authorization?: string; 'idempotency-key'?: string | string[] };
    /** The request stream (the ingest's own route), or its raw bytes when an http-in node has read them. */
    body: Readable | Buffer;
}

/**
 * POST /api/v1/data/import: who is sending is checked from the headers, and a
 * declared size over the cap refused, before this reads the body; the body
 * is decompressed under the size cap, checked, and stored once per export_id.
 * Only a stream keeps that promise: behind an http-in node with body parsing
 * off, Node-RED 4.1 has read the whole body into memory before this runs.
 */
export async function receiveUpload(store: IngestStore, settings: IngestSettings, upload: Upload): Promise<ImportAnswer> {
    let uploader;
    try {
        uploader = await admitUploader(settings.mode, bearerToken(upload.headers.authorization), settings.dataDir);
    } catch (err) {
        // The unread body flows on into nothing; the HTTP side decides how much of it to take before cutting.
        if (!Buffer.isBuffer(upload.body)) upload.body.resume();
        throw err;
    }
    const idempotencyKey = firstHeader(upload.headers['idempotency-key']);
    const json = await readUploadBody(upload.body, upload.headers, settings.maxBodyBytes);
    return store.importExport(json, (header) => {
        checkExportOwner(uploader, settings.mode, header.installation_id);
        if (idempotencyKey && idempotencyKey !== header.export_id) {
            throw new BoatDataError('EXPORT_INVALID', `the Idempotency-Key ${JSON.stringify(idempotencyKey)} is not the export's export_id ${JSON.stringify(header.export_id)}`, 400);
        }
    });
}

/** What anyone may learn from the health check in tokens mode: the ingest is there, and how boats get in. */
export interface BriefHealth {
    status: 'ok';
    mode: IngestMode;
}

export interface HealthAnswer extends BriefHealth {
    service: 'd3kos-ingest';
    database: string;
    installations: number;
    exports: number;
    max_body_bytes: number;
}

/**
 * GET /api/v1/health: the boat's connectivity check, open to anyone; it also
 * proves the database answers. In tokens mode only a fleet reader (an
 * operator) learns the counts; everyone else gets status and mode.
 */
export async function health(store: IngestStore, settings: IngestSettings, reader?: Reader): Promise<HealthAnswer | BriefHealth> {
    const counts = await store.counts();
    if (settings.mode === 'tokens' && reader?.scope !== 'fleet') return { status: 'ok', mode: settings.mode };
    return { status: 'ok', service: 'd3kos-ingest', mode: settings.mode, database: path.basename(store.file), ...counts, max_body_bytes: settings.maxBodyBytes };
}

/** The reader of a request that is let in without one (the health check): undefined for no or an unknown token. */
export async function readerIfAny(settings: IngestSettings, authorization: string | string[] | undefined): Promise<Reader | undefined> {
    if (settings.mode === 'tokens' && !authorization) return undefined;
    return admitReader(settings.mode, authorization, settings.dataDir).catch(() => undefined);
}

/** GET /api/v1/installations: a device token sees its own installation only. */
export async function listInstallations(store: IngestStore, reader: Reader): Promise<{ success: true; count: number; installations: InstallationSummary[] }> {
    const installations = (await store.installations()).filter((i) => reader.scope === 'fleet' || i.installation_id === reader.installation_id);
    return { success: true, count: installations.length, installations };
}

export const DEFAULT_PAGE_ROWS = 10000;
export const MAX_PAGE_ROWS = 100000;

export interface CategoryQuery {
    installation_id?: unknown;
    category?: unknown;
    offset?: unknown;
    limit?: unknown;
}

/** GET /api/v1/installations/:id/:category: stored rows in arrival order, a page at a time (?offset=&limit=). */
export async function readCategory(store: IngestStore, query: CategoryQuery, reader: Reader) {
    const installationId = String(query.installation_id ?? '').toLowerCase();
    if (!INSTALLATION_ID_PATTERN.test(installationId)) throw new BoatDataError('INSTALLATION_INVALID', `installation ${JSON.stringify(query.installation_id ?? '')} is not an installation_id (16 hexadecimal characters)`, 400);
    checkReads(reader, installationId);
    const category = String(query.category ?? '');
    if (!isCategoryKey(category)) throw new BoatDataError('CATEGORY_UNKNOWN', `category ${JSON.stringify(category)} is not known; use one of ${CATEGORY_KEYS.join(', ')}`, 404);
    const offset = wholeNumber(query.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = wholeNumber(query.limit, 'limit', 1, MAX_PAGE_ROWS, DEFAULT_PAGE_ROWS);
    if (!(await store.knowsInstallation(installationId))) throw new BoatDataError('INSTALLATION_UNKNOWN', `no export from installation ${installationId} has been imported`, 404);
    const page = await store.categoryRows(installationId, category, { offset, limit });
    const next = offset + page.entries.length;
    return {
        success: true as const,
        installation_id: installationId,
        category,
        count: page.entries.length,
        total: page.total,
        offset,
        ...(next < page.total ? { next_offset: next } : {}),
        entries: page.entries,
        data: page.data,
    };
}

/**
 * GET /api/v1/exports/:export_id: what was imported under it. A device token
 * sees only its own installation's import: another boat's is "not imported"
 * to it, so export ids cannot be probed.
 */
export async function readImportedExport(store: IngestStore, exportId: unknown, reader: Reader): Promise<{ success: true } & ImportedExport & { other_installations?: string[] }> {
    const id = String(exportId ?? '');
    const visible = (await store.importedExports(id)).filter((e) => reader.scope === 'fleet' || e.installation_id === reader.installation_id);
    const [newest, ...others] = visible;
    if (!newest) {
        const from = reader.scope === 'fleet' ? '' : ` from installation ${reader.installation_id}`;
        throw new BoatDataError('EXPORT_UNKNOWN', `no export ${JSON.stringify(id)} has been imported${from}`, 404);
    }
    return { success: true, ...newest, ...(others.length > 0 ? { other_installations: others.map((o) => o.installation_id) } : {}) };
}

function wholeNumber(value: unknown, name: string, min: number, max: number, fallback: number): number {
    if (value === undefined || value === null || value === '') return fallback;
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new BoatDataError('QUERY_INVALID', `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`, 400);
    return n;
}

function firstHeader(value: string | string[] | undefined): string {
    return (Array.isArray(value) ? value[0] : value ?? '').trim();
}
