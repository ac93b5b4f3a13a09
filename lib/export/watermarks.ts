import { promises as fs } from 'fs';
import * as path from 'path';
import { writeJsonAtomic } from '../files/atomic';
import { CategoryKey, isCategoryKey } from '../categories';
import { BoatDataError, errorCode, errorMessage } from '../errors';

/**
 * How far the central database has acknowledged a category. `rowid` orders
 * SQLite rows even when their entry_id is a UUID; `timestamp` is a second
 * guard for rows whose rowid was renumbered (VACUUM of a table without an
 * integer key) or reused (a table without AUTOINCREMENT whose newest row was
 * deleted): a row newer than the mark goes out again, never missing.
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
    /**
     * When the marks were last cleared because the boat's data went back in
     * time (a restore): acknowledgements of exports started before then are
     * not taken, their rowids may no longer mean the same rows.
     */
    reset_at?: string | null;
}

const locks = new Map<string, Promise<unknown>>();

/** One writer per watermark file inside this process. */
function serialised<T>(file: string, work: () => Promise<T>): Promise<T> {
    const previous = locks.get(file) ?? Promise.resolve();
    const next = previous.then(work, work);
    locks.set(
        file,
        next.catch(() => undefined),
    );
    return next;
}

/** A watermark file that could not be read as one: kept under another name, and the marks start again from nothing. */
export interface WatermarksSetAside {
    reason: string;
    kept_as: string;
}

export interface LoadedWatermarks {
    marks: WatermarkFile;
    setAside: WatermarksSetAside | null;
}

/**
 * The acknowledged marks. A damaged file is moved aside and read as empty:
 * the next incremental export then sends everything, which the central side
 * dedupes, instead of every daily export failing on it.
 */
export function loadWatermarks(file: string, now = new Date()): Promise<LoadedWatermarks> {
    return serialised(file, () => load(file, now));
}

export async function readWatermarks(file: string): Promise<WatermarkFile> {
    return (await loadWatermarks(file)).marks;
}

function emptyWatermarks(): WatermarkFile {
    return { version: 1, updated_at: null, acknowledged: {}, last_export_id: null };
}

async function load(file: string, now: Date): Promise<LoadedWatermarks> {
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return { marks: emptyWatermarks(), setAside: null };
        throw new BoatDataError('WATERMARKS_UNREADABLE', `The export watermarks at ${file} could not be read: ${errorMessage(err)}`);
    }
    let parsed: Partial<WatermarkFile>;
    try {
        parsed = JSON.parse(text) as Partial<WatermarkFile>;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`it holds ${JSON.stringify(parsed)} instead of marks`);
    } catch (err) {
        return { marks: emptyWatermarks(), setAside: await keepAside(file, text.trim() === '' ? 'the file is empty' : errorMessage(err), now) };
    }
    const acknowledged: Watermarks = {};
    for (const [key, mark] of Object.entries(parsed.acknowledged ?? {})) {
        if (isCategoryKey(key) && typeof mark === 'object' && mark !== null) acknowledged[key] = mark as Watermark;
    }
    const marks: WatermarkFile = { version: 1, updated_at: parsed.updated_at ?? null, acknowledged, last_export_id: parsed.last_export_id ?? null };
    if (typeof parsed.reset_at === 'string') marks.reset_at = parsed.reset_at;
    return { marks, setAside: null };
}

async function keepAside(file: string, reason: string, now: Date): Promise<WatermarksSetAside | null> {
    const keptAs = `${file}.unreadable-${now.toISOString().replace(/[:.]/g, '-')}`;
    try {
        await fs.rename(file, keptAs);
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return null;
        throw new BoatDataError('WATERMARKS_UNREADABLE', `The export watermarks at ${file} are damaged (${reason}) and could not be moved aside: ${errorMessage(err)}`);
    }
    return { reason: `The export watermarks were damaged (${reason}); they were kept as ${keptAs} and the next incremental export sends everything again`, kept_as: keptAs };
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
        const current = await load(file, now).then(
            (loaded) => loaded.marks,
            () => emptyWatermarks(),
        );
        const started = exportStartedAt(exportId);
        // An export read before a restore carries rowids of the data that was replaced: its marks would skip new rows.
        const stale = current.reset_at != null && started !== null && started < current.reset_at;
        for (const [key, mark] of Object.entries(stale ? {} : marks)) {
            if (isCategoryKey(key) && mark) current.acknowledged[key] = laterMark(current.acknowledged[key], mark);
        }
        current.updated_at = now.toISOString();
        current.last_export_id = exportId;
        await writeJsonAtomic(file, current);
        return current;
    });
}

/**
 * Clears every acknowledged mark: the boat's databases went back to an
 * earlier state (a restore), so new rows take rowids at or below the old
 * marks and an incremental export going by them would skip them. The next
 * incremental export sends everything again; the central side upserts by
 * row key, so each row is still stored once.
 */
export function resetWatermarks(file: string, now = new Date()): Promise<WatermarkFile | null> {
    return serialised(file, async () => {
        // No exports folder: this boat never exported, there is nothing to clear.
        if (!(await fs.stat(path.dirname(file)).catch(() => null))?.isDirectory()) return null;
        const current = await load(file, now).then(
            (loaded) => loaded.marks,
            () => emptyWatermarks(),
        );
        const reset: WatermarkFile = { ...current, acknowledged: {}, updated_at: now.toISOString(), reset_at: now.toISOString() };
        await writeJsonAtomic(file, reset);
        return reset;
    });
}

/** The UTC start time in an export id (`export_20261122_231434_123_ab12`) as ISO text, or null. */
function exportStartedAt(exportId: string): string | null {
    const m = /^export_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})_(\d{3})_/.exec(exportId);
    return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z` : null;
}
