import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import type { QueueEntry, QueueFile } from './entries';
import { appendHistory, HistoryRecord } from './history';
import { loadQueueFile, writeQueueFile } from './queue-file';
import type { UntrustedExport } from './orphans';
import { raiseProblem } from '../status/problems';

/** How long /health tells of a queue file found damaged: the owner should hear of it, the boat not look broken for ever. */
export const DAMAGED_QUEUE_TOLD_MS = 24 * 60 * 60 * 1000;

/**
 * One change to the queue: a plain function of the queue as it is on disk.
 * It must check everything it needs before it modifies the queue, so a
 * throw leaves the queue as it was. Its history records are returned and
 * written before the queue (a crash in between replays the change, and the
 * history adds nothing the second time); export files are deleted only once
 * the queue is safe.
 */
export type QueueChange<T> = (queue: QueueFile, now: Date) => ChangeResult<T>;

export interface ChangeResult<T> {
    result: T;
    changed: boolean;
    history?: HistoryRecord[];
    deleteFiles?: string[];
    /**
     * Entries to take out of the queue file for good (completed and failed
     * ones past their time or count): they live on only in the history, so
     * they leave the queue only in a write made after their history record
     * is on disk. While the history cannot be saved they stay where they are.
     */
    archive?: Archived[];
}

export interface Archived {
    entry: QueueEntry;
    /** Its record, added to the history if the history lacks it (the settle that should have written it was cut off). */
    record: HistoryRecord;
    /** Its export file, deleted once it has left the queue. */
    deleteFile?: string;
}

interface Job {
    change: QueueChange<unknown>;
    resolve: (value: unknown) => void;
    reject: (err: unknown) => void;
}

/**
 * The one writer of a queue file in this process. Changes run strictly one
 * after another; those that arrive while a write is under way are applied
 * together and written once, so hundreds of messages at once cost a few
 * writes, not hundreds. Each caller's promise settles only once the write
 * that holds its change is on disk.
 */
export class QueueStore {
    private jobs: Job[] = [];
    private draining = false;
    private readonly problemListeners = new Set<(message: string) => void>();
    private readonly clearedListeners = new Set<() => void>();
    private problemStanding = false;
    /**
     * Queue ids an upload in this process is sending right now: every other
     * `uploading` entry is stranded (its result could not be saved) and may go back to pending.
     */
    readonly sending = new Set<string>();
    /** Export files found in no queue entry that could not be trusted to upload (see ExportQueue.adoptOrphans). */
    untrusted: UntrustedExport[] = [];

    constructor(
        readonly queueFile: string,
        readonly historyFile: string,
        readonly historyLimit: number,
    ) {}

    run<T>(change: QueueChange<T>): Promise<T> {
        return new Promise<T>((resolve, reject) => {
            this.jobs.push({ change, resolve: resolve as (value: unknown) => void, reject });
            if (!this.draining) {
                this.draining = true;
                void this.drain();
            }
        });
    }

    /** Things worth telling the installer that are not any one caller's error: a damaged file set aside. */
    onProblem(listener: (message: string) => void): () => void {
        this.problemListeners.add(listener);
        return () => this.problemListeners.delete(listener);
    }

    /** After a reported problem, the first later queue write that reaches the disk: the queue works again. */
    onProblemCleared(listener: () => void): () => void {
        this.clearedListeners.add(listener);
        return () => this.clearedListeners.delete(listener);
    }

    private async drain(): Promise<void> {
        while (this.jobs.length > 0) await this.apply(this.jobs.splice(0));
        // No await between the last check and this: a job pushed now starts a new drain.
        this.draining = false;
    }

    private async apply(batch: Job[]): Promise<void> {
        const now = new Date();
        let queue: QueueFile;
        let changed = false;
        let setAside = false;
        try {
            const loaded = await loadQueueFile(this.queueFile, now);
            queue = loaded.queue;
            if (loaded.setAside) {
                setAside = true;
                this.report(loaded.setAside.reason);
                raiseProblem(
                    `queue-file:${this.queueFile}`,
                    this.queueFile,
                    `the upload queue file was found damaged at ${now.toISOString()} and kept as ${path.basename(loaded.setAside.kept_as)}; export files no entry names are queued again from their files`,
                    { forMs: DAMAGED_QUEUE_TOLD_MS },
                );
                // Written at once, so the damaged original is kept aside once, not on every load.
                changed = true;
            }
        } catch (err) {
            for (const job of batch) job.reject(err);
            return;
        }
        const history: HistoryRecord[] = [];
        const deleteFiles: string[] = [];
        const archive: Array<Archived & { list: QueueEntry['status'] }> = [];
        const outcomes: Array<{ job: Job; ok: boolean; value: unknown }> = [];
        for (const job of batch) {
            try {
                const done = job.change(queue, now);
                changed ||= done.changed;
                history.push(...(done.history ?? []));
                deleteFiles.push(...(done.deleteFiles ?? []));
                // Where each one is now: a later change of the batch may still move it (a failed one retried, say).
                archive.push(...(done.archive ?? []).map((a) => ({ ...a, list: a.entry.status })));
                outcomes.push({ job, ok: true, value: done.result });
            } catch (err) {
                outcomes.push({ job, ok: false, value: err });
            }
        }
        // History first: a queue write can drop an entry (trimmed, superseded), and a
        // crash between the two writes must not take the entry's only record with it.
        let historySaved = true;
        try {
            await appendHistory(this.historyFile, [...history, ...archive.map((a) => a.record)], this.historyLimit, now);
        } catch (err) {
            historySaved = false;
            this.report(cannotSave(err, 'The export history', this.historyFile).message);
        }
        if (historySaved && archive.length > 0) {
            for (const { entry, list, deleteFile } of archive) {
                const at = queue[list].indexOf(entry);
                if (at < 0 || entry.status !== list) continue;
                queue[list].splice(at, 1);
                if (deleteFile) deleteFiles.push(deleteFile);
                changed = true;
            }
        }
        if (changed) {
            try {
                await writeQueueFile(this.queueFile, queue, now);
            } catch (err) {
                // Nothing of this batch reached the queue file: every caller hears it, the old file stands.
                // (Its history records may have: a replay of the change adds nothing to the history.)
                const problem = cannotSave(err, 'The upload queue', this.queueFile);
                for (const job of batch) job.reject(problem);
                return;
            }
            // The write that replaces a damaged file is not yet proof: the problem stands until a later one.
            // Nor is one that comes with a history that could not be saved just now.
            if (this.problemStanding && !setAside && historySaved) this.clear();
        }
        // The urgent and bulk parts of an export share its file: it goes with the last entry naming it.
        const named = new Set([...queue.pending, ...queue.uploading, ...queue.completed, ...queue.failed].map((e) => path.resolve(e.export_file)));
        for (const file of deleteFiles) if (!named.has(path.resolve(file))) await fs.rm(file, { force: true }).catch(() => undefined);
        for (const { job, ok, value } of outcomes) (ok ? job.resolve : job.reject)(value);
    }

    private report(message: string): void {
        this.problemStanding = true;
        for (const listener of this.problemListeners) listener(message);
    }

    private clear(): void {
        this.problemStanding = false;
        for (const listener of this.clearedListeners) listener();
    }
}

/**
 * A failed write told in the owner's words (raw Node text like "ENOSPC: no
 * space left on device, open '….tmp'" helps nobody at the helm). The codes are
 * the export file's, so one Catch node route serves both.
 */
function cannotSave(err: unknown, what: string, file: string): BoatDataError {
    if (err instanceof BoatDataError) return err;
    const dir = path.dirname(file);
    const code = errorCode(err);
    if (code === 'ENOSPC') return new BoatDataError('DISK_FULL', `${what} could not be saved: the disk holding ${dir} is full; free space on it`, 507);
    if (code === 'EACCES' || code === 'EPERM') return new BoatDataError('NO_PERMISSION', `${what} could not be saved: no permission to write in ${dir} (${errorMessage(err)})`, 500);
    return new BoatDataError('QUEUE_NOT_SAVED', `${what} could not be saved in ${dir} (${errorMessage(err)})`, 500);
}

const stores = new Map<string, QueueStore>();

/** Every queue object on one file shares one store, so two nodes on the same boat cannot interleave writes. */
export function queueStore(queueFile: string, historyFile: string, historyLimit: number): QueueStore {
    let store = stores.get(queueFile);
    if (!store) {
        store = new QueueStore(queueFile, historyFile, historyLimit);
        stores.set(queueFile, store);
    }
    return store;
}
