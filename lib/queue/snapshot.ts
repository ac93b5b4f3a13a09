import type { LastUpload, QueueEntry, QueueFile } from './entries';

/** An entry as the page and the dashboard show it: tries used and when the next one is due. */
export interface EntryView {
    queue_id: string;
    export_id: string;
    status: QueueEntry['status'];
    mode: string | null;
    created_at: string;
    file_size_bytes: number;
    category_count: number;
    attempts: number;
    max_attempts: number;
    next_retry_at: string | null;
    /** The old Data Management page's name for next_retry_at. */
    next_retry: string | null;
    last_error: string | null;
    completed_at?: string;
    failed_at?: string;
    records_imported?: number | null;
    import_id?: string | null;
}

/**
 * The queue at a glance. `pending` and `failed` are counts (the old page's
 * names); the *_count names are the boot scripts'. Both stay.
 */
export interface QueueSnapshot {
    pending: number;
    failed: number;
    pending_count: number;
    uploading_count: number;
    completed_count: number;
    failed_count: number;
    next_pending: { queue_id: string; export_id: string; next_retry_at: string | null; attempts: number } | null;
    items: { pending: EntryView[]; uploading: EntryView[]; failed: EntryView[]; completed: EntryView[] };
    last_upload: LastUpload | null;
    last_updated: string | null;
    /** The size of the exports still to go (pending and uploading): what the link has yet to carry. */
    waiting_bytes: number;
    /** Exports waiting: an export sent as urgent and bulk parts counts once, as does its file's size. */
    waiting_exports: number;
}

/** The lists in a status answer are cut here: the counts stay exact, a touchscreen shows no more anyway. */
const LISTED = 50;
const RECENT_COMPLETED = 5;

export function queueSnapshot(queue: QueueFile, maxAttempts: number, now: Date): QueueSnapshot {
    const view = (e: QueueEntry): EntryView => {
        const out: EntryView = {
            queue_id: e.queue_id,
            export_id: e.export_id,
            status: e.status,
            mode: e.mode ?? null,
            created_at: e.created_at,
            file_size_bytes: e.file_size_bytes,
            category_count: e.category_count,
            attempts: e.retry_count,
            max_attempts: maxAttempts,
            next_retry_at: e.next_retry_at,
            next_retry: e.next_retry_at,
            last_error: e.last_error,
        };
        if (e.completed_at) out.completed_at = e.completed_at;
        if (e.failed_at) out.failed_at = e.failed_at;
        if (e.status === 'completed') {
            out.records_imported = e.records_imported ?? null;
            out.import_id = e.import_id ?? null;
        }
        return out;
    };
    const pending = queue.pending.slice().sort((a, b) => dueAt(a, now) - dueAt(b, now) || a.created_at.localeCompare(b.created_at));
    const next = pending[0];
    const completed = queue.completed.slice().sort((a, b) => (b.completed_at ?? '').localeCompare(a.completed_at ?? ''));
    return {
        pending: queue.pending.length,
        failed: queue.failed.length,
        pending_count: queue.pending.length,
        uploading_count: queue.uploading.length,
        completed_count: queue.completed.length,
        failed_count: queue.failed.length,
        next_pending: next ? { queue_id: next.queue_id, export_id: next.export_id, next_retry_at: next.next_retry_at, attempts: next.retry_count } : null,
        items: {
            pending: pending.slice(0, LISTED).map(view),
            uploading: queue.uploading.slice(0, LISTED).map(view),
            failed: queue.failed.slice(-LISTED).reverse().map(view),
            completed: completed.slice(0, RECENT_COMPLETED).map(view),
        },
        last_upload: queue.last_upload,
        last_updated: queue.last_updated,
        ...waitingExports([...queue.pending, ...queue.uploading]),
    };
}

function waitingExports(entries: QueueEntry[]): { waiting_bytes: number; waiting_exports: number } {
    const files = new Map(entries.map((e) => [e.export_file, e.file_size_bytes || 0]));
    return { waiting_bytes: [...files.values()].reduce((sum, n) => sum + n, 0), waiting_exports: new Set(entries.map((e) => e.family_id ?? e.export_id)).size };
}

function dueAt(entry: QueueEntry, now: Date): number {
    const at = entry.next_retry_at ? Date.parse(entry.next_retry_at) : NaN;
    return Number.isNaN(at) ? now.getTime() : at;
}
