import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode } from '../errors';
import { writeJsonAtomic } from '../files/atomic';
import type { QueueEntry } from './entries';

/** What became of one export, for the history page: uploaded, given up on, or replaced by a newer one. */
export interface HistoryRecord {
    export_id: string;
    queue_id: string;
    status: 'completed' | 'failed' | 'superseded';
    /** When it left the queue's active lists (the old page reads this name). */
    archived_at: string;
    completed_at?: string;
    failed_at?: string;
    superseded_by?: string;
    file_size_bytes: number;
    category_count: number;
    mode?: string;
    attempts: number;
    records_imported?: number | null;
    import_id?: string | null;
    last_error?: string | null;
    /** For one part of an export (lib/queue/parts.ts): which, and the export it belongs to when its id is not that export's. */
    part?: QueueEntry['part'];
    family_id?: string;
}

export interface HistoryFile {
    version: string;
    last_updated: string | null;
    /** Oldest first, as the deployed service appended them. */
    exports: HistoryRecord[];
}

/** Enough for months of daily exports; older records go, so the file never grows without bound. */
export const DEFAULT_HISTORY_LIMIT = 500;

export function historyRecord(entry: QueueEntry, status: HistoryRecord['status'], now: Date, extra: Partial<HistoryRecord> = {}): HistoryRecord {
    const record: HistoryRecord = {
        export_id: entry.export_id,
        queue_id: entry.queue_id,
        status,
        archived_at: now.toISOString(),
        file_size_bytes: entry.file_size_bytes,
        category_count: entry.category_count,
        mode: entry.mode,
        attempts: entry.retry_count,
        ...extra,
    };
    if (entry.part) record.part = entry.part;
    if (entry.family_id) record.family_id = entry.family_id;
    if (status === 'completed') {
        record.completed_at = entry.completed_at;
        record.records_imported = entry.records_imported ?? null;
        record.import_id = entry.import_id ?? null;
    }
    if (status === 'failed') {
        record.failed_at = entry.failed_at;
        record.last_error = entry.last_error;
    }
    return record;
}

/** The history as stored; a damaged history is only history, so it reads as empty rather than stopping uploads. */
export async function readHistory(file: string): Promise<HistoryFile & { damaged?: boolean }> {
    let parsed: unknown;
    try {
        parsed = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (err) {
        return { version: '1.0', last_updated: null, exports: [], damaged: errorCode(err) !== 'ENOENT' };
    }
    // The old Node service kept a bare array; the Python service {version, exports}.
    const records = Array.isArray(parsed) ? parsed : Array.isArray((parsed as HistoryFile)?.exports) ? (parsed as HistoryFile).exports : [];
    return {
        version: '1.0',
        last_updated: (parsed as HistoryFile)?.last_updated ?? null,
        exports: records.map(withExportId).filter((r): r is HistoryRecord => typeof r === 'object' && r !== null && typeof (r as HistoryRecord).export_id === 'string'),
    };
}

/** The Python service's records are its queue entries, named by export_file only: the export's id is its file name, as the queue reads it. */
function withExportId(record: unknown): unknown {
    if (typeof record !== 'object' || record === null) return record;
    const r = record as Record<string, unknown>;
    if (typeof r.export_id === 'string' || typeof r.export_file !== 'string' || !r.export_file) return record;
    return { ...r, export_id: path.basename(r.export_file, '.json') };
}

/** The `history` action's answer. */
export interface UploadHistory {
    /** Successful uploads only, oldest first: the original Data Management page shows `history.slice(-10).reverse()` as successes. */
    history: HistoryRecord[];
    /** Every record (uploaded, failed, superseded), newest first. */
    recent: HistoryRecord[];
}

/** What one answer lists; the counts a touchscreen can show, not the whole file. */
export const HISTORY_LISTED = 50;

export function uploadHistory(records: HistoryRecord[], limit = HISTORY_LISTED): UploadHistory {
    // The old Node service wrote "success" for what we call completed.
    const uploaded = records.filter((r) => r.status === 'completed' || (r.status as string) === 'success');
    return { history: uploaded.slice(-limit), recent: records.slice(-limit).reverse() };
}

/**
 * Which outcome a record tells: an export is uploaded once and superseded
 * once, so those are one record each; it can fail more than once (a retry
 * from the dashboard, then another failure), so a failure is told by its time.
 */
function outcomeKey(record: HistoryRecord): string {
    // The old Node service wrote "success" for what we call completed.
    const status = (record.status as string) === 'success' ? 'completed' : record.status;
    return status === 'failed' ? `${record.export_id}\0failed\0${record.failed_at ?? ''}` : `${record.export_id}\0${status}`;
}

/**
 * Adds the records the history does not hold yet, and writes nothing when it
 * holds them all. Idempotent, so the queue can write the history before the
 * queue write it belongs to: a crash in between replays the change, and the
 * replay adds nothing. A record older than the newest one (one put back for
 * an entry about to leave the queue) goes in its place by time, so the bound
 * still drops the oldest.
 */
export async function appendHistory(file: string, records: HistoryRecord[], limit = DEFAULT_HISTORY_LIMIT, now = new Date()): Promise<void> {
    if (records.length === 0) return;
    const { damaged, ...history } = await readHistory(file);
    const held = new Set(history.exports.map(outcomeKey));
    const fresh = records.filter((record) => {
        const key = outcomeKey(record);
        if (held.has(key)) return false;
        held.add(key);
        return true;
    });
    if (fresh.length === 0 && !damaged) return;
    // Kept for the installer before it is replaced: never silently emptied.
    if (damaged) await fs.copyFile(file, `${file}.unreadable-${now.toISOString().replace(/[:.]/g, '-')}`).catch(() => undefined);
    for (const record of fresh) {
        let at = history.exports.length;
        while (at > 0 && (history.exports[at - 1].archived_at ?? '') > record.archived_at) at--;
        history.exports.splice(at, 0, record);
    }
    if (history.exports.length > limit) history.exports = history.exports.slice(history.exports.length - limit);
    history.last_updated = now.toISOString();
    await writeJsonAtomic(file, history);
}
