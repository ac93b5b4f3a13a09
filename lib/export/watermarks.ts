import { promises as fs } from 'fs';
import { writeJsonAtomic } from '../files/atomic';
import { CategoryKey, isCategoryKey } from '../categories';
import { BoatDataError, errorCode, errorMessage } from '../errors';

/**
 * How far the central database has acknowledged a category. `rowid` orders
 * SQLite rows even when their entry_id is a UUID; `timestamp` is a second
 * guard for rows whose rowid was renumbered (VACUUM of a table without an
 * integer key): a row newer than the mark goes out again, never missing.
 * `modified_ms` marks media files by modification time.
 */
export interface Watermark {
    rowid?: number;
    timestamp?: string;
    modified_ms?: number;
}

export type Watermarks = Partial<Record<CategoryKey, Watermark>>;

export interface WatermarkFile {
    version: 1;
    updated_at: string | null;
    acknowledged: Watermarks;
    last_export_id: string | null;
}

const locks = new Map<string, Promise<unknown>>();

/** One writer per watermark file inside this process. */
function serialised<T>(file: string, work: () => Promise<T>): Promise<T> {
    const previous = locks.get(file) ?? Promise.resolve();
    const next = previous.then(work, work);
    locks.set(file, next.catch(() => undefined));
    return next;
}

export async function readWatermarks(file: string): Promise<WatermarkFile> {
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return { version: 1, updated_at: null, acknowledged: {}, last_export_id: null };
        throw new BoatDataError('WATERMARKS_UNREADABLE', `The export watermarks at ${file} could not be read: ${errorMessage(err)}`);
    }
    try {
        const parsed = JSON.parse(text) as Partial<WatermarkFile>;
        const acknowledged: Watermarks = {};
        for (const [key, mark] of Object.entries(parsed.acknowledged ?? {})) {
            if (isCategoryKey(key) && typeof mark === 'object' && mark !== null) acknowledged[key] = mark as Watermark;
        }
        return { version: 1, updated_at: parsed.updated_at ?? null, acknowledged, last_export_id: parsed.last_export_id ?? null };
    } catch (err) {
        // A damaged mark only means the next incremental export sends more than needed; the central side dedupes.
        throw new BoatDataError('WATERMARKS_MALFORMED', `The export watermarks at ${file} are damaged (${errorMessage(err)}); delete the file to send everything again`);
    }
}

/** Merges a mark forward: each field only ever grows, so a late acknowledgement of an older export never moves it back. */
export function laterMark(current: Watermark | undefined, candidate: Watermark): Watermark {
    const out: Watermark = { ...(current ?? {}) };
    if (candidate.rowid !== undefined && (out.rowid === undefined || candidate.rowid > out.rowid)) out.rowid = candidate.rowid;
    if (candidate.timestamp !== undefined && (out.timestamp === undefined || candidate.timestamp > out.timestamp)) out.timestamp = candidate.timestamp;
    if (candidate.modified_ms !== undefined && (out.modified_ms === undefined || candidate.modified_ms > out.modified_ms)) out.modified_ms = candidate.modified_ms;
    return out;
}

/**
 * Called only when the central side has confirmed an export: advances each
 * category to what that export carried.
 */
export function acknowledgeWatermarks(file: string, exportId: string, marks: Watermarks, now = new Date()): Promise<WatermarkFile> {
    return serialised(file, async () => {
        const current: WatermarkFile = await readWatermarks(file).catch(() => ({ version: 1, updated_at: null, acknowledged: {}, last_export_id: null }));
        for (const [key, mark] of Object.entries(marks)) {
            if (isCategoryKey(key) && mark) current.acknowledged[key] = laterMark(current.acknowledged[key], mark);
        }
        current.updated_at = now.toISOString();
        current.last_export_id = exportId;
        await writeJsonAtomic(file, current);
        return current;
    });
}
