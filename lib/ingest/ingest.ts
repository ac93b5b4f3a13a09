import type { Readable } from 'stream';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { CATEGORY_KEYS, isCategoryKey } from '../categories';
import { BoatDataError, errorMessage } from '../errors';
import { noteBacklog } from '../fleet/backlog';
import { admitReader, admitUploader, bearerToken, checkExportOwner, checkReads, IngestMode, Reader, Uploader } from './access';
import { ACCEPTED_ENCODINGS, checkBeforeReading, DeclaredEncoding, spoolUpload, uploadBytes, UploadHeaders } from './body';
import { answer, importExport } from './import-export';
import { RetryLaterError, SpoolLimits, spoolFolderFor } from './spool-folder';
import { DEFAULT_LIMITS, ExportLimits, PAGE_BYTES } from './limits';
import type { FleetHealth, ImportAnswer, ImportedExport, IngestStore, InstallationSummary } from './store';
import type { ExportIdentity } from './validate';

/** How one ingest answers: its data folder, who it lets in, how big an upload may be. */
export interface IngestSettings {
    dataDir: string;
    mode: IngestMode;
    /** The most an upload may be as sent (gzip): nothing of it is held in memory, it only bounds the temp file. */
    maxBodyBytes: number;
    /** What one export may hold; the defaults unless a test or an operator says otherwise. */
    limits?: Partial<ExportLimits>;
    /** What large uploads may set aside in the data folder's spool at once; the defaults unless a test says otherwise. */
    spool?: SpoolLimits;
}

export interface Upload {
    headers: UploadHeaders & { authorization?: string; 'idempotency-key'?: string | string[] };
    /** The request stream (the ingest's own route), or its raw bytes when an http-in node has read them. */
    body: Readable | Buffer;
}

/**
 * POST /api/v1/data/import: who is sending is checked from the headers, a
 * declared size over the cap refused, and an Idempotency-Key already
 * imported answered, before this reads the body; the body is received
 * whole (in a temp file past 1 MB), then parsed once as a stream into the
 * store in batches, in one transaction. An import refused after its sender
 * was let in is kept for the fleet health answer. Only a stream keeps the
 * first promise: behind an http-in node with body parsing off, Node-RED
 * 4.1 has read the whole body into memory before this runs.
 */
export async function receiveUpload(store: IngestStore, settings: IngestSettings, upload: Upload): Promise<ImportAnswer> {
    let uploader: Uploader;
    let declaredGzip: DeclaredEncoding;
    const idempotencyKey = firstHeader(upload.headers['idempotency-key']);
    try {
        uploader = await admitUploader(settings.mode, bearerToken(upload.headers.authorization), settings.dataDir, (digest) => store.erasedSince(digest));
        declaredGzip = checkBeforeReading(upload.headers, settings.maxBodyBytes);
    } catch (err) {
        // The unread body flows on into nothing; the HTTP side decides how much of it to take before cutting.
        if (!Buffer.isBuffer(upload.body)) upload.body.resume();
        throw err;
    }
    let identity: ExportIdentity | undefined;
    try {
        if (idempotencyKey) {
            const prior = await store.findImport(uploader.installation_id, idempotencyKey);
            if (prior) {
                if (!Buffer.isBuffer(upload.body)) upload.body.resume();
                await noteBacklog(store, uploader.installation_id, upload.headers['x-d3kos-backlog']);
                return answer({ installation_id: uploader.installation_id, export_id: idempotencyKey }, prior, true);
            }
        }
        const spool = await spoolUpload(upload.body, settings.maxBodyBytes, await spoolFolderFor(settings.dataDir, settings.spool));
        try {
            const stored = await importing(store, () =>
                importExport(
                    store,
                    uploadBytes(spool, declaredGzip),
                    (seen) => {
                        identity = seen;
                        checkExportOwner(uploader, settings.mode, seen.installation_id);
                        if (idempotencyKey && idempotencyKey !== seen.export_id) {
                            throw new BoatDataError('EXPORT_INVALID', `the Idempotency-Key ${JSON.stringify(idempotencyKey)} is not the export's export_id ${JSON.stringify(seen.export_id)}`, 400);
                        }
                    },
                    spool.bytes,
                    { ...DEFAULT_LIMITS, ...settings.limits },
                ),
            );
            await noteBacklog(store, uploader.installation_id, upload.headers['x-d3kos-backlog']);
            return stored;
        } finally {
            await spool.discard();
        }
    } catch (err) {
        const statusCode = err instanceof BoatDataError ? err.statusCode : 500;
        // A boat told to come back shortly (the spool is full) has not failed; anything else after it was let in is kept.
        if (statusCode !== 401 && statusCode !== 403 && !(err instanceof RetryLaterError)) {
            const exportId = identity?.export_id ?? (idempotencyKey || '(unknown)');
            await store
                .recordFailure({
                    installation_id: uploader.installation_id,
                    export_id: exportId.slice(0, 128),
                    failed_at: new Date().toISOString(),
                    status: statusCode,
                    error: errorMessage(err).slice(0, 500),
                })
                .catch(() => undefined);
        }
        throw err;
    }
}

/** What anyone may learn from the health check in tokens mode: the ingest is there, and how boats get in. */
export interface BriefHealth {
    status: 'ok';
    mode: IngestMode;
    /** The Content-Encodings an upload may use (a boat picks br where it is named). */
    accept_encoding: string[];
}

export interface HealthAnswer extends BriefHealth {
    service: 'd3kos-ingest';
    database: string;
    store: 'sqlite' | 'postgres';
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
    const counts = await recentCounts(store);
    const accept_encoding = [...ACCEPTED_ENCODINGS];
    if (settings.mode === 'tokens' && reader?.scope !== 'fleet') return { status: 'ok', mode: settings.mode, accept_encoding };
    return { status: 'ok', service: 'd3kos-ingest', mode: settings.mode, accept_encoding, database: store.label, store: store.kind, ...counts, max_body_bytes: settings.maxBodyBytes };
}

const COUNTS_FRESH_MS = 1000;
const countsOf = new WeakMap<IngestStore, { value?: { installations: number; exports: number }; at: number; error?: unknown; refreshing?: Promise<void> }>();

/**
 * The fleet's counts as the database gave them at most a second ago. The health check answers from them at
 * once and asks the database again behind the answer, so a boat's connectivity check never waits in line
 * behind imports and reads (SQLite's statements share four threads with gunzip and file I/O); a database
 * that stopped answering still fails the next check.
 */
async function recentCounts(store: IngestStore): Promise<{ installations: number; exports: number }> {
    let entry = countsOf.get(store);
    if (!entry) countsOf.set(store, (entry = { at: 0 }));
    const known = entry;
    if (!known.refreshing && Date.now() - known.at > COUNTS_FRESH_MS) {
        known.refreshing = store
            .counts()
            .then(
                (value) => {
                    known.value = value;
                    known.error = undefined;
                    known.at = Date.now();
                },
                (err) => {
                    known.error = err;
                    known.at = Date.now();
                },
            )
            .finally(() => (known.refreshing = undefined));
    }
    if (known.value === undefined && known.error === undefined) await known.refreshing;
    if (known.error !== undefined) throw known.error;
    return known.value!;
}

/** The reader of a request that is let in without one (the health check): undefined for no or an unknown token. */
export async function readerIfAny(settings: IngestSettings, authorization: string | string[] | undefined): Promise<Reader | undefined> {
    if (settings.mode === 'tokens' && !authorization) return undefined;
    return admitReader(settings.mode, authorization, settings.dataDir).catch(() => undefined);
}

export const DEFAULT_INSTALLATIONS_PAGE = 1000;
export const MAX_INSTALLATIONS_PAGE = 10000;

/**
 * GET /api/v1/installations: the boats the central side has heard from, by
 * installation_id, a page at a time (?after=<installation_id>&limit=); a
 * device token sees its own installation only.
 */
export async function listInstallations(
    store: IngestStore,
    reader: Reader,
    query: { after?: unknown; limit?: unknown } = {},
): Promise<{ success: true; count: number; installations: InstallationSummary[]; next_after?: string }> {
    const limit = wholeNumber(query.limit, 'limit', 1, MAX_INSTALLATIONS_PAGE, DEFAULT_INSTALLATIONS_PAGE);
    const after = query.after === undefined || query.after === '' ? undefined : String(query.after).toLowerCase();
    const only = reader.scope === 'fleet' ? undefined : reader.installation_id;
    const installations = (await store.installations({ after, limit, only })).map((i) => ({ ...i, records_imported: Number(i.records_imported) }));
    const last = installations[installations.length - 1];
    return { success: true, count: installations.length, installations, ...(installations.length === limit && last ? { next_after: last.installation_id } : {}) };
}

export const DEFAULT_PAGE_ROWS = 10000;
export const MAX_PAGE_ROWS = 100000;

export interface CategoryQuery {
    installation_id?: unknown;
    category?: unknown;
    offset?: unknown;
    limit?: unknown;
    after?: unknown;
}

/**
 * GET /api/v1/installations/:id/:category: stored rows in arrival order, a
 * page at a time. `?after=<next_after of the page before>` costs the same
 * at any depth; `?offset=` still works for older callers. A page stops at
 * `limit` rows or about 4 MB of entries, whichever comes first, so no
 * stored data makes a read hold more than a few MB; a row over the row cap
 * (stored before there was one) reads as null, named in `oversized`.
 */
export async function readCategory(store: IngestStore, query: CategoryQuery, reader: Reader, limits: Partial<ExportLimits> = {}) {
    const { head, page } = await categoryPage(store, query, reader, limits);
    const entries: unknown[] = JSON.parse(page.entries);
    return { ...head, entries, data: page.data === null ? null : (JSON.parse(page.data) as Record<string, unknown>) };
}

/**
 * The same answer as readCategory, as JSON text built around the entries as they are stored: an HTTP read
 * neither parses nor re-serialises its rows, so readers cost the process little time that imports need.
 */
export async function readCategoryJson(store: IngestStore, query: CategoryQuery, reader: Reader, limits: Partial<ExportLimits> = {}): Promise<string> {
    const { head, page } = await categoryPage(store, query, reader, limits);
    const text = JSON.stringify(head);
    return `${text.slice(0, -1)},"entries":${page.entries},"data":${page.data ?? 'null'}}`;
}

/** Pages of rows read at once, per store: more readers wait their turn in line, costing imports nothing meanwhile. */
const PAGES_AT_ONCE = 1;
const pageTurns = new WeakMap<IngestStore, { running: number; waiting: Array<() => void> }>();

/**
 * Imports come first: a page read waits until no import is under way in this
 * process, or READ_YIELD_MS at most, so a fleet of readers costs the boats'
 * uploads little (a read is answered a little later; an upload that waits
 * keeps a boat's link busy) and no reader waits for ever.
 */
const READ_YIELD_MS = 200;
const importsUnderWay = new WeakMap<IngestStore, { count: number; idle: Array<() => void> }>();

function importActivity(store: IngestStore) {
    let activity = importsUnderWay.get(store);
    if (!activity) importsUnderWay.set(store, (activity = { count: 0, idle: [] }));
    return activity;
}

async function importing<T>(store: IngestStore, work: () => Promise<T>): Promise<T> {
    const activity = importActivity(store);
    activity.count++;
    try {
        return await work();
    } finally {
        if (--activity.count === 0) for (const wake of activity.idle.splice(0)) wake();
    }
}

function importsIdle(store: IngestStore, maxMs: number): Promise<void> {
    const activity = importActivity(store);
    if (activity.count === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
        const wake = () => {
            clearTimeout(timer);
            const at = activity.idle.indexOf(wake);
            if (at >= 0) activity.idle.splice(at, 1);
            resolve();
        };
        const timer = setTimeout(wake, maxMs);
        activity.idle.push(wake);
    });
}

async function inPageTurn<T>(store: IngestStore, work: () => Promise<T>): Promise<T> {
    let turns = pageTurns.get(store);
    if (!turns) pageTurns.set(store, (turns = { running: 0, waiting: [] }));
    const gate = turns;
    if (gate.running >= PAGES_AT_ONCE) await new Promise<void>((resolve) => gate.waiting.push(resolve));
    else gate.running++;
    try {
        await importsIdle(store, READ_YIELD_MS);
        return await work();
    } finally {
        const next = gate.waiting.shift();
        if (next) next();
        else gate.running--;
    }
}

async function categoryPage(store: IngestStore, query: CategoryQuery, reader: Reader, limits: Partial<ExportLimits>) {
    const installationId = String(query.installation_id ?? '').toLowerCase();
    if (!INSTALLATION_ID_PATTERN.test(installationId))
        throw new BoatDataError('INSTALLATION_INVALID', `installation ${JSON.stringify(query.installation_id ?? '')} is not an installation_id (16 hexadecimal characters)`, 400);
    checkReads(reader, installationId);
    const category = String(query.category ?? '');
    if (!isCategoryKey(category)) throw new BoatDataError('CATEGORY_UNKNOWN', `category ${JSON.stringify(category)} is not known; use one of ${CATEGORY_KEYS.join(', ')}`, 404);
    const hasAfter = query.after !== undefined && query.after !== '';
    const after = hasAfter ? wholeNumber(query.after, 'after', 0, Number.MAX_SAFE_INTEGER, 0) : undefined;
    const offset = hasAfter ? 0 : wholeNumber(query.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = wholeNumber(query.limit, 'limit', 1, MAX_PAGE_ROWS, DEFAULT_PAGE_ROWS);
    if (!(await store.knowsInstallation(installationId))) throw new BoatDataError('INSTALLATION_UNKNOWN', `no export from installation ${installationId} has been imported`, 404);
    const maxRowBytes = limits.maxRowBytes ?? DEFAULT_LIMITS.maxRowBytes;
    const page = await inPageTurn(store, () => store.categoryRows(installationId, category, { after, offset, limit, maxBytes: PAGE_BYTES, maxRowBytes }));
    const oversized = page.rows.filter((row) => row.bytes > maxRowBytes).map((row) => ({ position: row.seq, bytes: row.bytes }));
    const count = page.rows.length;
    const last = page.rows[count - 1];
    const next = offset + count;
    const head = {
        success: true as const,
        installation_id: installationId,
        category,
        count,
        total: page.total,
        ...(hasAfter ? { after } : { offset }),
        ...(!hasAfter && next < page.total ? { next_offset: next } : {}),
        ...(page.more && last ? { next_after: last.seq } : {}),
        ...(oversized.length > 0 ? { oversized } : {}),
    };
    return { head, page };
}

/**
 * GET /api/v1/fleet/health (an operator's): the boats not heard from in
 * `days` days (7 unless told), oldest first, and the imports refused after
 * their boat was let in, newest first; up to 1,000 of each.
 */
export async function fleetHealth(
    store: IngestStore,
    reader: Reader,
    query: { days?: unknown; limit?: unknown } = {},
): Promise<{ success: true; days: number; quiet_since: string } & FleetHealth & { installations: number; exports: number }> {
    if (reader.scope !== 'fleet') throw new BoatDataError('INGEST_FORBIDDEN', 'the fleet health is for an operator token (operators.json), not a device token', 403);
    const days = wholeNumber(query.days, 'days', 0, 36500, 7);
    const limit = wholeNumber(query.limit, 'limit', 1, 1000, 1000);
    const quietSince = new Date(Date.now() - days * 86400000).toISOString();
    const [fleet, counts] = await Promise.all([store.fleetHealth(quietSince, limit), store.counts()]);
    return { success: true, days, quiet_since: quietSince, ...counts, ...fleet };
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
    return (Array.isArray(value) ? value[0] : (value ?? '')).trim();
}
