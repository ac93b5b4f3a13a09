import * as path from 'path';
import type { ExportLayout, ExportMode, FinishedExport } from '../export/export-file';
import type { StoredEncoding } from '../export/compressed-file';
import type { CategoryKey } from '../categories';
import { categoriesCarried, partsOf, UploadClass } from './parts';
import type { Watermarks } from '../export/watermarks';
import { BoatDataError } from '../errors';

export type EntryStatus = 'pending' | 'uploading' | 'completed' | 'failed';
export const QUEUE_LISTS: readonly EntryStatus[] = ['pending', 'uploading', 'completed', 'failed'];

/**
 * One export waiting for (or done with) its upload. The first fields are the
 * deployed d3kOS service's, which other tools on the boat read; the rest are
 * ours and readers ignore them.
 */
export interface QueueEntry {
    queue_id: string;
    export_id: string;
    export_file: string;
    created_at: string;
    tier: number;
    category_count: number;
    file_size_bytes: number;
    /** null for entries queued by the old service, which kept no checksum. */
    sha256: string | null;
    status: EntryStatus;
    /** Tries used up: an attempt made while the central API was out of reach does not count. */
    retry_count: number;
    next_retry_at: string | null;
    last_error: string | null;
    completed_at?: string;
    failed_at?: string;
    queued_at?: string;
    mode?: ExportMode;
    /** What this export carries per category; acknowledged only once the central side confirms it. */
    watermarks?: Watermarks;
    import_id?: string | null;
    records_imported?: number | null;
    /** Urgent or bulk (lib/queue/parts.ts); none on entries queued before the split, which count as bulk. */
    part?: UploadClass;
    /** The export this part belongs to, when its export_id is not that export's own (`…-bulk`). */
    family_id?: string;
    /** The categories this upload carries when it is part of its file; the others go empty. */
    categories_sent?: CategoryKey[];
    /** Where those categories lie in the file (see ExportLayout). */
    layout?: ExportLayout;
    /** What this upload costs on the wire in an encoding, once measured (the budget of a metered link). */
    wire?: { encoding: string; bytes: number };
    /** Its file is stored compressed so, and uploaded as it is; absent for a plain JSON file, compressed as it is sent. */
    encoding?: StoredEncoding;
    /** A stored part's categories with rows or data (a plain file's are in its layout). */
    with_data?: CategoryKey[];
}

export interface LastUpload {
    export_id: string;
    queue_id: string;
    completed_at: string;
    import_id: string | null;
    records_imported: number | null;
}

export interface QueueFile {
    version: string;
    last_updated: string | null;
    last_upload: LastUpload | null;
    pending: QueueEntry[];
    uploading: QueueEntry[];
    completed: QueueEntry[];
    failed: QueueEntry[];
}

export const QUEUE_FORMAT_VERSION = '1.0';

export function emptyQueue(): QueueFile {
    return { version: QUEUE_FORMAT_VERSION, last_updated: null, last_upload: null, pending: [], uploading: [], completed: [], failed: [] };
}

/** q_<the export id's time and suffix>: unique because export ids are. */
export function queueIdFor(exportId: string): string {
    return 'q_' + exportId.replace(/^export_/, '');
}

/** What a new queue entry is made from: a closed export, or an export file taken back into the queue. */
export type QueueableExport = Pick<FinishedExport, 'export_id' | 'export_file' | 'created_at' | 'tier' | 'mode' | 'category_count' | 'file_size_bytes' | 'sha256'> &
    Partial<Pick<FinishedExport, 'watermarks' | 'layout' | 'encoding' | 'parts'>>;

/** The pending entries of a closed export: its urgent and bulk parts apart when both have data (lib/queue/parts.ts). */
export function entriesForExport(exp: QueueableExport, now: Date): QueueEntry[] {
    if (exp.parts && exp.encoding) {
        // Stored compressed as its parts: one entry per stored file, uploaded as it is.
        const encoding = exp.encoding;
        const marks = exp.watermarks ?? {};
        return exp.parts.map((part) => {
            const carried = part.categories_sent;
            const watermarks = carried ? Object.fromEntries(Object.entries(marks).filter(([key]) => carried.includes(key as CategoryKey))) : marks;
            const entry = entryForExport({ ...exp, ...part, watermarks }, now);
            entry.part = part.part;
            entry.encoding = encoding;
            if (part.export_id !== exp.export_id) entry.family_id = exp.export_id;
            if (carried) entry.categories_sent = carried;
            entry.with_data = part.with_data;
            return entry;
        });
    }
    return partsOf({ export_id: exp.export_id, watermarks: exp.watermarks ?? {}, layout: exp.layout }).map((part) => {
        const entry = entryForExport({ ...exp, export_id: part.export_id, watermarks: part.watermarks }, now);
        entry.part = part.part;
        if (part.export_id !== exp.export_id) entry.family_id = exp.export_id;
        if (part.categories_sent && exp.layout) {
            entry.categories_sent = part.categories_sent;
            entry.layout = exp.layout;
            const carried = new Set(categoriesCarried(entry));
            entry.category_count = exp.layout.with_data.filter((key) => carried.has(key)).length;
        }
        return entry;
    });
}

/** A new pending entry for a closed export, due at once. */
export function entryForExport(exp: QueueableExport, now: Date): QueueEntry {
    return {
        queue_id: queueIdFor(exp.export_id),
        export_id: exp.export_id,
        export_file: exp.export_file,
        created_at: exp.created_at,
        tier: exp.tier,
        category_count: exp.category_count,
        file_size_bytes: exp.file_size_bytes,
        sha256: exp.sha256,
        status: 'pending',
        retry_count: 0,
        next_retry_at: now.toISOString(),
        last_error: null,
        queued_at: now.toISOString(),
        mode: exp.mode,
        watermarks: exp.watermarks ?? {},
    };
}

/** Checks what arrives on msg.export before anything is stored, so a bad message never reaches the queue file. */
export function checkFinishedExport(value: unknown): FinishedExport {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new BoatDataError('EXPORT_INVALID', 'msg.export is not an export; wire the export node straight into the upload queue', 400);
    }
    const exp = value as Record<string, unknown>;
    const problems: string[] = [];
    if (typeof exp.export_id !== 'string' || !/^export_[\w-]+$/.test(exp.export_id)) problems.push('export_id');
    if (typeof exp.export_file !== 'string' || !path.isAbsolute(exp.export_file)) problems.push('export_file (an absolute path)');
    if (typeof exp.created_at !== 'string' || Number.isNaN(Date.parse(exp.created_at))) problems.push('created_at');
    if (exp.mode !== 'full' && exp.mode !== 'incremental') problems.push('mode');
    for (const key of ['tier', 'category_count', 'file_size_bytes']) if (typeof exp[key] !== 'number') problems.push(key);
    if (typeof exp.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(exp.sha256)) problems.push('sha256');
    if (exp.parts !== undefined) {
        const good = (p: Record<string, unknown>) =>
            typeof p.export_id === 'string' &&
            /^export_[\w-]+$/.test(p.export_id) &&
            typeof p.export_file === 'string' &&
            path.isAbsolute(p.export_file) &&
            typeof p.sha256 === 'string' &&
            /^[0-9a-f]{64}$/.test(p.sha256) &&
            (p.part === 'urgent' || p.part === 'bulk');
        if (!Array.isArray(exp.parts) || exp.parts.length === 0 || !exp.parts.every((p) => typeof p === 'object' && p !== null && good(p))) problems.push('parts');
        if (exp.encoding !== 'br' && exp.encoding !== 'gzip') problems.push('encoding');
    }
    if (problems.length > 0) {
        throw new BoatDataError('EXPORT_INVALID', `msg.export is missing or has a wrong ${problems.join(', ')}; it was not queued`, 400);
    }
    return value as FinishedExport;
}

/** The old d3kOS export service's names for our fields: its pending entries are read, and rewritten in ours. */
const OLD_SERVICE_NAMES = { file_path: 'export_file', attempts: 'retry_count', next_retry: 'next_retry_at' } as const;

/**
 * Reads an entry as stored, by us or by the old service, filling what the
 * old one did not keep. Anything that cannot be an entry gives null.
 */
export function readEntry(value: unknown, list: EntryStatus, now: Date): QueueEntry | null {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    const raw: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const [old, ours] of Object.entries(OLD_SERVICE_NAMES)) {
        if (raw[ours] === undefined && raw[old] !== undefined) raw[ours] = raw[old];
        // One name per fact: a stale copy under the old name would contradict ours after the next try.
        delete raw[old];
    }
    const file = typeof raw.export_file === 'string' && raw.export_file ? raw.export_file : null;
    const exportId = typeof raw.export_id === 'string' && raw.export_id ? raw.export_id : file ? path.basename(file, '.json') : null;
    if (!file || !exportId) return null;
    const text = (key: string): string | null => (typeof raw[key] === 'string' ? (raw[key] as string) : null);
    const count = (key: string): number => (typeof raw[key] === 'number' && Number.isFinite(raw[key]) ? (raw[key] as number) : 0);
    const entry: QueueEntry = {
        ...(raw as Partial<QueueEntry>),
        queue_id: text('queue_id') ?? queueIdFor(exportId),
        export_id: exportId,
        export_file: file,
        created_at: text('created_at') ?? now.toISOString(),
        tier: count('tier'),
        category_count: count('category_count'),
        file_size_bytes: count('file_size_bytes'),
        sha256: text('sha256'),
        status: list,
        retry_count: count('retry_count'),
        next_retry_at: text('next_retry_at'),
        last_error: text('last_error'),
    };
    return entry;
}

/** The entries of every list, pending first. */
export function allEntries(queue: QueueFile): QueueEntry[] {
    return QUEUE_LISTS.flatMap((list) => queue[list]);
}

export function findEntry(queue: QueueFile, queueId: string): { list: EntryStatus; index: number; entry: QueueEntry } | null {
    for (const list of QUEUE_LISTS) {
        const index = queue[list].findIndex((e) => e.queue_id === queueId);
        if (index >= 0) return { list, index, entry: queue[list][index] };
    }
    return null;
}
