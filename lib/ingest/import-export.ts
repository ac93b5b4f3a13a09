import * as crypto from 'crypto';
import { ExportParser } from './export-parser';
import { DEFAULT_LIMITS, ExportLimits } from './limits';
import { storedEntry } from './stored-entry';
import type { ImportAnswer, ImportSession, IngestStore, PriorImport, StoredRow } from './store';
import { checkExport, checkIdentity, ExportIdentity } from './validate';

/** Rows are handed to the store when this many bytes of them are waiting, or the store's batch is full. */
const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Stores the export whose bytes come in `chunks`, parsed once as they come:
 * rows go to the store in batches, inside one transaction that commits only
 * when the whole export has been read and checked. `admit` sees who the
 * export is from before any row is stored, and throws to refuse it (another
 * boat's token, say). The same export_id from the same installation is
 * stored once: the store answers the earlier import instead.
 */
export async function importExport(
    store: IngestStore,
    chunks: AsyncIterable<Buffer>,
    admit: (identity: ExportIdentity) => void,
    bodyBytes: number,
    limits: ExportLimits = DEFAULT_LIMITS,
): Promise<ImportAnswer> {
    const parser = new ExportParser(limits);
    const importedAt = new Date().toISOString();
    let session: ImportSession | undefined;
    let identity: ExportIdentity | undefined;
    let exportedAt = importedAt;
    let rows: StoredRow[] = [];
    let waiting = 0;
    // One batch is written while the next is parsed; never more than one waits, so memory stays at two batches.
    let writing: Promise<void> = Promise.resolve();
    const flush = async () => {
        await writing;
        if (rows.length === 0) return;
        const batch = rows;
        rows = [];
        waiting = 0;
        writing = session!.writeRows(batch);
        // Its failure is seen at the next flush; until then nothing may go unhandled.
        writing.catch(() => undefined);
    };
    try {
        for await (const chunk of chunks) {
            parser.write(chunk);
            const items = parser.items;
            parser.items = [];
            for (const item of items) {
                if (item.kind === 'row') {
                    const entry = storedEntry(item.category, item.entry);
                    rows.push({ category: item.category, key: item.key, entry });
                    waiting += entry.length;
                    if (rows.length >= store.batchRows || waiting >= BATCH_BYTES) await flush();
                } else if (item.kind === 'data') {
                    await writing;
                    await session!.writeData(item.category, item.data);
                } else {
                    identity = checkIdentity(parser.shape);
                    admit(identity);
                    exportedAt = exportTime(identity.export_timestamp) ?? importedAt;
                    session = await store.beginImport();
                    const prior = await session.claim(identity, exportedAt);
                    if (prior) return answer(identity, prior, true);
                }
            }
        }
        parser.end();
        const header = checkExport(parser.shape);
        await flush();
        await writing;
        const importId = `imp_${crypto.randomUUID()}`;
        await session!.commit({ header, import_id: importId, imported_at: importedAt, exported_at: exportedAt, body_bytes: bodyBytes });
        session = undefined;
        return answer(header, { import_id: importId, records_imported: header.records }, false);
    } finally {
        await writing.catch(() => undefined);
        // Anything short of the commit stores nothing; the writer (SQLite) or the connection (PostgreSQL) is free again.
        await session?.rollback();
    }
}

/** The export's own time in UTC ISO, as the store orders exports by it; a time that is not one is no time. */
function exportTime(stamp: string | null): string | undefined {
    const at = stamp === null ? NaN : Date.parse(stamp);
    return Number.isNaN(at) ? undefined : new Date(at).toISOString();
}

export function answer(identity: { installation_id: string; export_id: string }, stored: PriorImport, already: boolean): ImportAnswer {
    return {
        status: 'success',
        import_id: stored.import_id,
        export_id: identity.export_id,
        installation_id: identity.installation_id,
        records_imported: Number(stored.records_imported),
        already_imported: already,
    };
}

/** Stores an export already in memory (a tool, a test): the same import as an upload's, without the HTTP side. */
export function importJson(store: IngestStore, json: Buffer | string, admit: (identity: ExportIdentity) => void = () => undefined): Promise<ImportAnswer> {
    const bytes = Buffer.isBuffer(json) ? json : Buffer.from(json);
    async function* slices() {
        for (let at = 0; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024);
    }
    return importExport(store, slices(), admit, bytes.length);
}
