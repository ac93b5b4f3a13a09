import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorMessage } from '../errors';
import type { BoatLayout } from '../boat/layout';
import type { FinishedExport } from '../export/export-file';
import { checkFinishedExport, entriesForExport, entryForExport, QueueEntry, QueueFile } from './entries';
import { covers, familyOf, uploadOrder } from './parts';
import { DEFAULT_HISTORY_LIMIT, historyRecord, HistoryRecord, readHistory, uploadHistory, UploadHistory } from './history';
import { DEFAULT_RETRY_SCHEDULE_S, nextTryAt } from './retry-schedule';
import { Archived, QueueStore, queueStore } from './store';
import { queueSnapshot, QueueSnapshot } from './snapshot';
import { AdoptableExport, inspectExportFile, unnamedExportFiles, UntrustedExport } from './orphans';
import { clearProblem, raiseProblem } from '../status/problems';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface ExportQueueOptions {
    /** Seconds before each try; its length is the number of tries. */
    retrySchedule?: readonly number[];
    historyLimit?: number;
    completedMaxAgeDays?: number;
    failedMaxAgeDays?: number;
    /** The newest completed entries kept in the queue file; older ones live on in the history. */
    completedKept?: number;
}

/** How one upload attempt ended, in the queue's terms. */
export type AttemptResult =
    | { kind: 'completed'; import_id: string | null; records_imported: number | null }
    /** The server asked for later (408, 429, 5xx, a timeout): one try used. */
    | { kind: 'retry'; reason: string; retry_after_ms?: number | null }
    /** No later try can help (a 4xx, a missing or changed file). */
    | { kind: 'failed'; reason: string }
    /** Nothing was decided (central out of reach, Node-RED stopping): back to pending, no try used. */
    | { kind: 'released'; reason: string };

export interface EnqueueResult {
    /** The export's first upload (its urgent part when it has two). */
    entry: QueueEntry;
    /** Every upload the export became: its urgent and bulk parts, or the whole file. */
    entries: QueueEntry[];
    /** Older pending incremental exports this one replaces (or this one, when a newer one was already waiting). */
    superseded: QueueEntry[];
    already_queued: boolean;
}

export interface AdoptResult {
    /** Export files no entry named, queued again from what they carry. */
    adopted: QueueEntry[];
    /** Export files that could not be trusted (unreadable, no export_id, cut short): listed for the owner, left as they are. */
    untrusted: UntrustedExport[];
}

export interface CleanupResult {
    removed_completed: number;
    removed_failed: number;
}

/**
 * The upload queue of one boat: export_queue.json and export_history.json
 * under data/exports/. Every change is a read-modify-write through the
 * file's one store, atomic and durable.
 */
export class ExportQueue {
    readonly schedule: readonly number[];
    private readonly store: QueueStore;
    private readonly options: Required<Omit<ExportQueueOptions, 'retrySchedule'>>;

    constructor(
        private readonly layout: Pick<BoatLayout, 'queueFile' | 'historyFile' | 'exportsDir'>,
        options: ExportQueueOptions = {},
    ) {
        this.schedule = options.retrySchedule ?? DEFAULT_RETRY_SCHEDULE_S;
        this.options = {
            historyLimit: options.historyLimit ?? DEFAULT_HISTORY_LIMIT,
            completedMaxAgeDays: options.completedMaxAgeDays ?? 30,
            failedMaxAgeDays: options.failedMaxAgeDays ?? 7,
            completedKept: options.completedKept ?? 100,
        };
        this.store = queueStore(layout.queueFile, layout.historyFile, this.options.historyLimit);
    }

    onProblem(listener: (message: string) => void): () => void {
        return this.store.onProblem(listener);
    }

    onProblemCleared(listener: () => void): () => void {
        return this.store.onProblemCleared(listener);
    }

    /** At start: entries a crash left in `uploading` go back to pending, with no try used. */
    recover(): Promise<QueueEntry[]> {
        return this.putBack(() => true, 'The upload was interrupted (Node-RED stopped or the boat lost power); it will be sent again');
    }

    /**
     * Before each upload round: entries in `uploading` that no upload here is
     * sending (the queue write after their upload failed, a full disk say)
     * go back to pending, with no try used. Without this they would wait for
     * a restart of Node-RED.
     */
    releaseStranded(): Promise<QueueEntry[]> {
        return this.putBack((e) => !this.store.sending.has(e.queue_id), 'The outcome of the last upload could not be saved in the queue; it will be sent again');
    }

    private putBack(stranded: (entry: QueueEntry) => boolean, reason: string): Promise<QueueEntry[]> {
        return this.store.run((queue) => {
            const back = queue.uploading.filter(stranded);
            queue.uploading = queue.uploading.filter((e) => !back.includes(e));
            for (const entry of back) {
                entry.status = 'pending';
                entry.last_error = reason;
                queue.pending.push(entry);
            }
            return { result: back.map(copy), changed: back.length > 0 };
        });
    }

    /**
     * Queues a closed export. The same export twice is queued once. A newer
     * incremental export carries every row an older pending one does (marks
     * only advance on acknowledgement), so the older ones are dropped: a
     * month offline uploads one export, not thirty overlapping ones.
     */
    async enqueue(value: FinishedExport, now = new Date()): Promise<EnqueueResult> {
        const exp = checkFinishedExport(value);
        let added = false;
        try {
            return await this.store.run<EnqueueResult>((queue) => {
                const existing = [...queue.pending, ...queue.uploading, ...queue.completed, ...queue.failed].filter((e) => familyOf(e) === exp.export_id);
                if (existing.length > 0) return { result: { entry: copy(existing[0]), entries: existing.map(copy), superseded: [], already_queued: true }, changed: false };
                const entries = entriesForExport(exp, now);
                for (const entry of entries) {
                    entry.next_retry_at = new Date(now.getTime() + (this.schedule[0] ?? 0) * 1000).toISOString();
                    queue.pending.push(entry);
                }
                added = true;
                const { superseded, history, deleteFiles } = exp.mode === 'incremental' ? this.supersede(queue, now) : { superseded: [], history: [], deleteFiles: [] };
                return { result: { entry: copy(entries[0]), entries: entries.map(copy), superseded: superseded.map(copy), already_queued: false }, changed: true, history, deleteFiles };
            });
        } catch (err) {
            if (!added) throw err;
            // Never queued, it would never be uploaded nor cleaned up: an orphan filling the disk that is already full.
            for (const file of exp.parts?.map((p) => p.export_file) ?? [exp.export_file]) if (this.ownsFile(file)) await fs.rm(file, { force: true }).catch(() => undefined);
            const code = err instanceof BoatDataError ? err.code : 'QUEUE_NOT_SAVED';
            const statusCode = err instanceof BoatDataError ? err.statusCode : 500;
            throw new BoatDataError(code, `${errorMessage(err)}; ${exp.export_id} was not queued and its file was removed: export again once the queue can be saved`, statusCode);
        }
    }

    /**
     * A pending incremental upload is replaced by the newest pending one that
     * carries all its categories (a newer urgent part replaces older urgent
     * parts, a newer bulk part older bulk ones, a whole export both); full
     * exports, and an upload under way, are never touched. A file still named
     * by another entry stays (see QueueStore).
     */
    private supersede(queue: QueueFile, now: Date): { superseded: QueueEntry[]; history: HistoryRecord[]; deleteFiles: string[] } {
        const incremental = queue.pending.filter((e) => e.mode === 'incremental');
        if (incremental.length < 2) return { superseded: [], history: [], deleteFiles: [] };
        const replacements = new Map<QueueEntry, QueueEntry>();
        for (const older of incremental) {
            const newer = incremental.filter((e) => e !== older && newerExport(e, older) && covers(e, older));
            if (newer.length > 0)
                replacements.set(
                    older,
                    newer.reduce((a, b) => (newerExport(b, a) ? b : a)),
                );
        }
        const superseded = [...replacements.keys()];
        queue.pending = queue.pending.filter((e) => !replacements.has(e));
        return {
            superseded,
            history: superseded.map((e) => historyRecord(e, 'superseded', now, { superseded_by: replacements.get(e)!.export_id })),
            deleteFiles: superseded.map((e) => e.export_file).filter((file) => this.ownsFile(file)),
        };
    }

    /**
     * Export files in data/exports/exports/ that no queue entry names (the
     * queue file was damaged and set aside, or Node-RED stopped between
     * closing an export and queueing it) are queued again from what they
     * carry: their export_id, tier, mode and time from the header, their size
     * and sha256 from their bytes. One the history says was uploaded goes
     * back as completed (so it is pruned in time, not sent again), one it
     * says failed goes back as failed; the rest are pending, and incremental ones are superseded as at enqueue. Their
     * watermarks are unknown, so uploading them moves no mark: the next
     * incremental export sends those rows again, which the central side
     * stores once. Files that cannot be trusted are listed, never deleted.
     */
    async adoptOrphans(now = new Date()): Promise<AdoptResult> {
        const named = await this.store.run((queue) => ({
            result: new Set([...queue.pending, ...queue.uploading, ...queue.completed, ...queue.failed].map((e) => path.basename(e.export_file))),
            changed: false,
        }));
        const found: AdoptableExport[] = [];
        const untrusted: UntrustedExport[] = [];
        for (const file of await unnamedExportFiles(path.join(this.layout.exportsDir, 'exports'), named)) {
            const inspected = await inspectExportFile(file);
            if ('reason' in inspected) untrusted.push(inspected);
            else found.push(inspected);
        }
        // What the history last says of each: uploaded, or given up on (then pruned, and a crash kept its file).
        const known = new Map<string, HistoryRecord>();
        if (found.length > 0) {
            for (const record of (await readHistory(this.layout.historyFile)).exports) {
                const status = (record.status as string) === 'success' ? 'completed' : record.status;
                if (status === 'completed' || status === 'failed') known.set(record.export_id, { ...record, status });
            }
        }
        const adopted = await this.store.run<QueueEntry[]>((queue) => {
            const all = [...queue.pending, ...queue.uploading, ...queue.completed, ...queue.failed];
            const taken: QueueEntry[] = [];
            for (const exp of found) {
                if (all.some((e) => e.export_id === exp.export_id || path.basename(e.export_file) === path.basename(exp.export_file))) continue;
                const entry = adoptedEntry(exp, known.get(exp.export_id), now);
                queue[entry.status].push(entry);
                taken.push(entry);
            }
            if (taken.length === 0) return { result: [], changed: false };
            const { history, deleteFiles } = this.supersede(queue, now);
            return { result: taken.map(copy), changed: true, history, deleteFiles };
        });
        const key = `queue-untrusted:${this.layout.queueFile}`;
        if (untrusted.length > 0) {
            const names = untrusted.map((u) => path.basename(u.file)).join(', ');
            raiseProblem(key, this.layout.queueFile, `${untrusted.length} export file(s) in data/exports/exports are in no queue and cannot be trusted to upload: ${names}; see the queue status`);
        } else {
            clearProblem(key);
        }
        this.store.untrusted = untrusted;
        return { adopted, untrusted };
    }

    /** The export files the last adoption could not trust. */
    untrustedFiles(): UntrustedExport[] {
        return this.store.untrusted.slice();
    }

    /** How many pending entries an upload round would try now (of those `admit` lets through). */
    dueCount(now = new Date(), force = false, admit?: (entry: QueueEntry) => boolean): Promise<number> {
        return this.store.run((queue) => ({ result: queue.pending.filter((e) => (force || isDue(e, now)) && (admit?.(copy(e)) ?? true)).length, changed: false }));
    }

    /** The pending entries as they stand (copies). */
    pending(): Promise<QueueEntry[]> {
        return this.store.run((queue) => ({ result: queue.pending.map(copy), changed: false }));
    }

    /** Remembers what an upload costs on the wire, so the budget is judged once, not by compressing again. */
    noteWire(queueId: string, wire: { encoding: string; bytes: number }): Promise<void> {
        return this.store.run((queue) => {
            const entry = queue.pending.find((e) => e.queue_id === queueId);
            if (!entry) return { result: undefined, changed: false };
            entry.wire = wire;
            return { result: undefined, changed: true };
        });
    }

    /** A stored export written again in another encoding (an older central side's 415): the entry names its new file. */
    noteStored(queueId: string, stored: Pick<QueueEntry, 'export_file' | 'encoding' | 'sha256' | 'file_size_bytes'>): Promise<void> {
        return this.store.run((queue) => {
            const entry = [...queue.pending, ...queue.uploading].find((e) => e.queue_id === queueId);
            if (!entry) return { result: undefined, changed: false };
            Object.assign(entry, stored);
            delete entry.wire;
            return { result: undefined, changed: true };
        });
    }

    /**
     * Takes the next due entry into `uploading` (durably, so a crash sends it
     * again); null when none is due. `admit` holds back what the link cannot
     * take now (bulk over a metered link's budget): it stays pending, untried.
     */
    claimNext(options: { now?: Date; force?: boolean; skip?: ReadonlySet<string>; admit?: (entry: QueueEntry) => boolean } = {}): Promise<QueueEntry | null> {
        const now = options.now ?? new Date();
        let claimed: string | null = null;
        return this.store
            .run((queue) => {
                // An older incremental export back in pending (a retry, "retry failed") is replaced here as at enqueue.
                const { superseded, history, deleteFiles } = this.supersede(queue, now);
                const next = queue.pending.filter((e) => !options.skip?.has(e.queue_id) && (options.force || isDue(e, now)) && (options.admit?.(copy(e)) ?? true)).sort(uploadOrder)[0];
                if (!next) return { result: null, changed: superseded.length > 0, history, deleteFiles };
                queue.pending = queue.pending.filter((e) => e !== next);
                next.status = 'uploading';
                queue.uploading.push(next);
                claimed = next.queue_id;
                this.store.sending.add(claimed);
                return { result: copy(next), changed: true, history, deleteFiles };
            })
            .catch((err) => {
                if (claimed) this.store.sending.delete(claimed);
                throw err;
            });
    }

    /** Records how an attempt ended. Returns the entry as it now stands, or null if it was no longer uploading. */
    settle(queueId: string, attempt: AttemptResult, now = new Date()): Promise<QueueEntry | null> {
        // Saved or not, the upload is over: if this write fails, the next round's releaseStranded() sends it again.
        const settled = this.store.run((queue) => {
            const entry = queue.uploading.find((e) => e.queue_id === queueId);
            if (!entry) return { result: null, changed: false };
            queue.uploading = queue.uploading.filter((e) => e !== entry);
            const history: HistoryRecord[] = [];
            let archive: Archived[] = [];
            const fail = (reason: string) => {
                entry.status = 'failed';
                entry.failed_at = now.toISOString();
                entry.next_retry_at = null;
                entry.last_error = reason;
                queue.failed.push(entry);
                history.push(historyRecord(entry, 'failed', now));
            };
            switch (attempt.kind) {
                case 'completed': {
                    entry.status = 'completed';
                    entry.completed_at = now.toISOString();
                    entry.next_retry_at = null;
                    entry.last_error = null;
                    entry.import_id = attempt.import_id;
                    entry.records_imported = attempt.records_imported;
                    queue.completed.push(entry);
                    queue.last_upload = {
                        export_id: entry.export_id,
                        queue_id: entry.queue_id,
                        completed_at: entry.completed_at,
                        import_id: attempt.import_id,
                        records_imported: attempt.records_imported,
                    };
                    history.push(historyRecord(entry, 'completed', now));
                    // The oldest leave the queue file, once their history records are sure to be on disk.
                    const over = queue.completed.length - this.options.completedKept;
                    if (over > 0) archive = this.archive(queue.completed.slice(0, over), now);
                    break;
                }
                case 'retry': {
                    entry.retry_count += 1;
                    const next = nextTryAt(this.schedule, entry.retry_count, now, attempt.retry_after_ms);
                    if (next) {
                        entry.status = 'pending';
                        entry.next_retry_at = next.toISOString();
                        entry.last_error = attempt.reason;
                        queue.pending.push(entry);
                    } else {
                        fail(`${attempt.reason} (gave up after ${entry.retry_count} tries)`);
                    }
                    break;
                }
                case 'failed':
                    entry.retry_count += 1;
                    fail(attempt.reason);
                    break;
                case 'released':
                    entry.status = 'pending';
                    entry.last_error = attempt.reason;
                    queue.pending.push(entry);
                    break;
            }
            return { result: copy(entry), changed: true, history, archive };
        });
        return settled.finally(() => this.store.sending.delete(queueId));
    }

    /** Failed exports back to pending with fresh tries: the dashboard's and REST's "retry failed". */
    retryFailed(now = new Date()): Promise<QueueEntry[]> {
        return this.store.run((queue) => {
            const retried = queue.failed.splice(0);
            for (const entry of retried) {
                entry.status = 'pending';
                entry.retry_count = 0;
                entry.next_retry_at = now.toISOString();
                delete entry.failed_at;
                queue.pending.push(entry);
            }
            return { result: retried.map(copy), changed: retried.length > 0 };
        });
    }

    /**
     * Completed entries older than 30 days and failed ones older than 7 go,
     * with their export files, once their history records are sure to be on
     * disk (while the history cannot be saved, they stay).
     */
    cleanup(now = new Date()): Promise<CleanupResult> {
        return this.store.run((queue) => {
            const completedCutoff = now.getTime() - this.options.completedMaxAgeDays * DAY_MS;
            const failedCutoff = now.getTime() - this.options.failedMaxAgeDays * DAY_MS;
            const oldCompleted = queue.completed.filter((e) => olderThan(e.completed_at ?? e.created_at, completedCutoff));
            const oldFailed = queue.failed.filter((e) => olderThan(e.failed_at ?? e.created_at, failedCutoff));
            return {
                result: { removed_completed: oldCompleted.length, removed_failed: oldFailed.length },
                changed: false,
                archive: this.archive([...oldCompleted, ...oldFailed], now),
            };
        });
    }

    snapshot(now = new Date()): Promise<QueueSnapshot> {
        return this.store.run((queue) => ({ result: queueSnapshot(queue, this.schedule.length, now), changed: false }));
    }

    /** Newest first. */
    async history(): Promise<HistoryRecord[]> {
        const history = await readHistory(this.layout.historyFile);
        return history.exports.slice().reverse();
    }

    /** The `history` answer: the uploads oldest first, as the original Data Management page reads them, and every record newest first. */
    async uploadHistory(limit?: number): Promise<UploadHistory> {
        return uploadHistory((await readHistory(this.layout.historyFile)).exports, limit);
    }

    /**
     * Completed or failed entries to take out of the queue file, each with the
     * record its settle wrote. Should that write have been cut off (a crash
     * between the two writes, or a queue left by an older version), the
     * history gets the record now, as it would have been; otherwise it adds nothing.
     */
    private archive(entries: QueueEntry[], now: Date): Archived[] {
        return entries.map((entry) => {
            const status = entry.status === 'failed' ? 'failed' : 'completed';
            const at = Date.parse((status === 'failed' ? entry.failed_at : entry.completed_at) ?? '');
            return {
                entry,
                record: historyRecord(entry, status, Number.isNaN(at) ? now : new Date(at)),
                deleteFile: this.ownsFile(entry.export_file) ? entry.export_file : undefined,
            };
        });
    }

    /**
     * Only export files under data/exports/ are ever deleted: a queue file
     * edited by hand or left by another tool cannot make us delete anything else.
     */
    private ownsFile(file: string): boolean {
        const relative = path.relative(this.layout.exportsDir, path.resolve(file));
        return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) && path.basename(file).startsWith('export_');
    }
}

/** A queue entry for an export file found without one. */
function adoptedEntry(exp: AdoptableExport, known: HistoryRecord | undefined, now: Date): QueueEntry {
    // Its watermarks are not known, so it moves no mark: the next incremental export sends those rows again.
    const entry: QueueEntry = {
        ...entryForExport({ ...exp, watermarks: {} }, now),
        last_error: 'Taken back into the queue from its file: no queue entry named it (the queue file was damaged, or Node-RED stopped before queueing it)',
    };
    if (exp.encoding) entry.encoding = exp.encoding;
    if (known?.status === 'completed') {
        entry.status = 'completed';
        entry.completed_at = known.completed_at ?? known.archived_at;
        entry.next_retry_at = null;
        entry.last_error = null;
        entry.import_id = known.import_id ?? null;
        entry.records_imported = known.records_imported ?? null;
    } else if (known?.status === 'failed') {
        // Given up on before: it stays failed (retry-failed sends it again), and is pruned in time.
        entry.status = 'failed';
        entry.failed_at = known.failed_at ?? known.archived_at;
        entry.next_retry_at = null;
        entry.retry_count = known.attempts ?? 0;
        entry.last_error = known.last_error ?? 'Failed before the queue file was damaged';
    }
    return entry;
}

function copy(entry: QueueEntry): QueueEntry {
    return structuredClone(entry);
}

function isDue(entry: QueueEntry, now: Date): boolean {
    const at = entry.next_retry_at ? Date.parse(entry.next_retry_at) : NaN;
    return Number.isNaN(at) || at <= now.getTime();
}

function newerExport(a: QueueEntry, b: QueueEntry): boolean {
    return a.created_at > b.created_at || (a.created_at === b.created_at && a.export_id > b.export_id);
}

function olderThan(iso: string, cutoffMs: number): boolean {
    const at = Date.parse(iso);
    return !Number.isNaN(at) && at < cutoffMs;
}
