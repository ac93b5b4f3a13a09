import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { readPlain, storedName, transcode } from '../export/compressed-file';
import { noteCentralEncodings } from '../export/export-file';
import { hashFile } from '../files/hash';
import type { License } from '../boat/license';
import { errorMessage } from '../errors';
import { acknowledgeWatermarks } from '../export/watermarks';
import type { QueueEntry } from '../queue/entries';
import type { AttemptResult, ExportQueue } from '../queue/export-queue';
import { BoatLink, HEADER_ALLOWANCE_BYTES } from '../link/link';
import { entryClass, familyOf, plainSize, uploadOrder } from '../queue/parts';
import { oldServiceExportBody } from './old-service-export';
import { checkCentral, checkExportFile, DEFAULT_HEALTH_TIMEOUT_MS, DEFAULT_UPLOAD_TIMEOUT_MS, uploadExport, UploadOutcome, UploadRequest } from './central-api';
import { chooseEncoding, compressedSize, UploadEncoding } from './encoding';
import { partBody } from './part-body';

export interface UploadWorkerOptions {
    queue: ExportQueue;
    watermarksFile: string;
    /** Read on every round, so a change of the boat's configuration needs no restart. */
    centralUrl: () => string;
    license: () => Promise<License>;
    deviceToken: () => string | undefined;
    uploadTimeoutMs?: number;
    healthTimeoutMs?: number;
    /** One call per finished attempt: completed, retry scheduled, or failed. */
    onAttempt?: (report: AttemptReport) => void;
    /** The queue or what the worker knows of the central API changed. */
    onChange?: () => void;
    onProblem?: (message: string) => void;
    /** The boat's link: its counted sockets, and on a metered one the day's budget for bulk uploads. Absent: unmetered, uncounted. */
    link?: BoatLink;
}

export interface AttemptReport {
    outcome: 'completed' | 'retry' | 'failed';
    entry: QueueEntry;
    http_status: number | null;
    reason: string | null;
    already_imported: boolean;
    bytes_sent: number;
}

/** What the worker last learnt: shown in the node's status and the queue status answer. */
export interface WorkerState {
    /** null until a health check has been made. */
    central_reachable: boolean | null;
    central_problem: string | null;
    /** Why nothing is uploaded at all (no central URL, tier 0, no license); null when uploads may run. */
    uploads_blocked: string | null;
    blocked_because: BlockedBecause | null;
    uploading: string | null;
    last_check_at: string | null;
}

export type BlockedBecause = 'no-central-api' | 'tier-too-low' | 'license-unreadable';

export interface RoundReport {
    processed: number;
    uploaded: number;
    failed: number;
    retry_scheduled: number;
    waiting: boolean;
    message: string;
}

/**
 * Sends the queue's due exports, one at a time, oldest first. Rounds never
 * overlap: a request while one runs waits for it (and identical waiting
 * requests share one round). An attempt made while the central API is out of
 * reach uses no try: the entry waits for the next round, and the rest of the
 * round is skipped, since they would meet the same closed door.
 */
export class UploadWorker {
    readonly state: WorkerState = {
        central_reachable: null,
        central_problem: null,
        uploads_blocked: null,
        blocked_because: null,
        uploading: null,
        last_check_at: null,
    };
    private chain: Promise<unknown> = Promise.resolve();
    private waitingRound: { force: boolean; promise: Promise<RoundReport> } | null = null;
    private inFlight: AbortController | null = null;
    private stopping = false;
    /** What the central side last said it decodes (its health answer). */
    private accepted: string[] | undefined;
    /** Central URLs that refused br with a 415: gzip from then on. */
    private readonly gzipOnly = new Set<string>();

    constructor(private readonly options: UploadWorkerOptions) {}

    /** One round now (after any running one). `force` tries every pending export, due or not: the owner pressed "upload now". */
    process(options: { force?: boolean } = {}): Promise<RoundReport> {
        const force = options.force === true;
        if (this.stopping) return Promise.resolve(report({ waiting: true, message: 'The upload queue is stopping' }));
        if (this.waitingRound && this.waitingRound.force === force) return this.waitingRound.promise;
        const waiting = {
            force,
            promise: this.chain.then(() => {
                if (this.waitingRound === waiting) this.waitingRound = null;
                return this.round(force);
            }),
        };
        this.waitingRound = waiting;
        this.chain = waiting.promise.catch(() => undefined);
        return waiting.promise;
    }

    /**
     * Stops for good: an upload in flight is aborted and its entry goes back
     * to pending on disk before this resolves (or it finishes, if its answer
     * came first). Waiting rounds end without doing anything.
     */
    async stop(): Promise<void> {
        this.stopping = true;
        this.inFlight?.abort();
        await this.chain;
    }

    private async round(force: boolean): Promise<RoundReport> {
        if (this.stopping) return report({ waiting: true, message: 'The upload queue is stopping' });
        // An export left in `uploading` because the queue write after its upload failed is sent again, not left until a restart.
        await this.options.queue.releaseStranded();
        const gate = await this.gate();
        this.setState('blocked' in gate ? { uploads_blocked: gate.blocked, blocked_because: gate.because } : { uploads_blocked: null, blocked_because: null });
        if ('blocked' in gate) return report({ waiting: true, message: gate.blocked });
        this.inFlight = new AbortController();
        try {
            // No traffic at all while nothing is due (or all that is due waits for Wi-Fi): an idle boat costs nothing.
            const admit = await this.admission(gate.centralUrl, force);
            if ((await this.options.queue.dueCount(new Date(), force, admit)) === 0) return report({ message: 'Nothing is due for upload' });
            const reach = await checkCentral(gate.centralUrl, { timeoutMs: this.options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS, signal: this.inFlight.signal, agents: this.agents() });
            this.setReach(reach.reachable ? null : reach.reason);
            if (!reach.reachable) return report({ waiting: true, message: `Exports stay queued: ${reach.reason}` });
            this.accepted = reach.accept_encoding;
            // New exports are written in what this central side decodes, so they go as stored.
            await this.noteEncoding(this.encodingFor(gate.centralUrl));
            return await this.uploadDue(force, gate.centralUrl, gate.token);
        } finally {
            this.inFlight = null;
        }
    }

    /** New exports are written in what the central side decodes; a failure to save that is told, never a stop. */
    private async noteEncoding(encoding: UploadEncoding): Promise<void> {
        await noteCentralEncodings(this.options.watermarksFile, encoding).catch((err) => this.options.onProblem?.(`What the central side decodes could not be saved: ${errorMessage(err)}`));
    }

    private async uploadDue(force: boolean, centralUrl: string, token: string): Promise<RoundReport> {
        const done = report({});
        // Each export once per round, even when its next try is due at once.
        const tried = new Set<string>();
        while (!this.stopping) {
            // Asked again before each upload: the one before it spent some of the day's budget.
            const admit = await this.admission(centralUrl, force, tried);
            const entry = await this.options.queue.claimNext({ force, skip: tried, admit });
            if (!entry) break;
            tried.add(entry.queue_id);
            this.setState({ uploading: entry.export_id });
            let outcome: { result: AttemptResult; upload: UploadOutcome | null };
            let settled: QueueEntry | null;
            try {
                outcome = await this.attempt(entry, centralUrl, token);
                settled = await this.options.queue.settle(entry.queue_id, outcome.result);
            } finally {
                // Also when the queue could not be saved: the status must not show an upload that is over.
                this.setState({ uploading: null });
            }
            if (outcome.result.kind === 'released') {
                done.waiting = true;
                break;
            }
            done.processed++;
            if (settled) this.tell(settled, outcome.upload);
            if (settled?.status === 'completed') done.uploaded++;
            else if (settled?.status === 'failed') done.failed++;
            else done.retry_scheduled++;
        }
        done.message = describeRound(done, this.state);
        return done;
    }

    private async attempt(entry: QueueEntry, centralUrl: string, token: string): Promise<{ result: AttemptResult; upload: UploadOutcome | null }> {
        const problem = await checkExportFile(entry.export_file, entry.sha256).catch((err) => `the export file could not be checked (${errorMessage(err)})`);
        if (problem) return { result: { kind: 'failed', reason: problem }, upload: null };
        let body: Pick<UploadRequest, 'body' | 'source'>;
        try {
            body = await this.bodyOf(entry);
        } catch (err) {
            return { result: { kind: 'failed', reason: errorMessage(err) }, upload: null };
        }
        // On a metered link a bulk upload is counted before it goes: a power cut mid-upload leaves it counted.
        const metered = this.options.link !== undefined && entryClass(entry) === 'bulk' && (await this.options.link.choice()).kind === 'metered';
        const send = async (encoding: UploadEncoding) => {
            // Stored in another encoding than the central side takes (an older central): written again in its, once.
            if (entry.encoding && entry.encoding !== encoding) await this.storeAs(entry, encoding);
            const release = metered ? await this.options.link!.reserve((await this.wireBytes(entry, encoding).catch(() => 0)) + HEADER_ALLOWANCE_BYTES) : null;
            try {
                return await uploadExport({
                    centralUrl,
                    file: entry.export_file,
                    ...body,
                    encoding,
                    stored: entry.encoding === encoding,
                    agents: this.agents(),
                    exportId: entry.export_id,
                    token,
                    timeoutMs: this.options.uploadTimeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS,
                    healthTimeoutMs: this.options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS,
                    signal: this.inFlight?.signal,
                    backlog: await this.backlog().catch(() => undefined),
                });
            } finally {
                await release?.().catch((err) => this.options.onProblem?.(`The link's byte count could not be saved: ${errorMessage(err)}`));
            }
        };
        const encoding = this.encodingFor(centralUrl);
        let upload = await send(encoding);
        if (upload.kind === 'encoding' && encoding !== 'gzip') {
            // An older central side, or one that stopped taking br: gzip, which every one decodes, at once and from now on.
            this.gzipOnly.add(centralUrl);
            await this.noteEncoding('gzip');
            // Bulk on a metered link was let through for its br size: its gzip size is judged against the budget first.
            if (metered) return { result: { kind: 'released', reason: 'the central API takes gzip, not br; sent again as gzip within the budget' }, upload };
            upload = await send('gzip');
        }
        switch (upload.kind) {
            case 'encoding':
                return {
                    result: { kind: 'failed', reason: `the central API does not decode the upload (415; it accepts ${upload.accepted.join(', ') || 'nothing it names'})` },
                    upload,
                };
            case 'accepted':
                await this.acknowledge(entry);
                this.setReach(null);
                return { result: { kind: 'completed', import_id: upload.import_id, records_imported: upload.records_imported }, upload };
            case 'retry':
                return { result: { kind: 'retry', reason: upload.reason, retry_after_ms: upload.retry_after_ms }, upload };
            case 'rejected':
                return { result: { kind: 'failed', reason: upload.reason }, upload };
            case 'unreachable':
                this.setReach(upload.reason);
                return { result: { kind: 'released', reason: upload.reason }, upload };
            case 'aborted':
                return { result: { kind: 'released', reason: upload.reason }, upload };
        }
    }

    /**
     * Only a confirmed upload moves the marks, and only to what this export
     * carried: rows written while it was being made are past its marks and go
     * out with the next export.
     */
    private async acknowledge(entry: QueueEntry): Promise<void> {
        try {
            await acknowledgeWatermarks(this.options.watermarksFile, familyOf(entry), entry.watermarks ?? {});
        } catch (err) {
            // The export is stored centrally all the same; unmoved marks only mean its rows are sent again, and deduplicated there.
            this.options.onProblem?.(`The upload of ${entry.export_id} was confirmed, but the export marks could not be saved: ${errorMessage(err)}`);
        }
    }

    private agents() {
        return this.options.link ? { httpAgent: this.options.link.meter.httpAgent, httpsAgent: this.options.link.meter.httpsAgent } : undefined;
    }

    private encodingFor(centralUrl: string): UploadEncoding {
        return this.gzipOnly.has(centralUrl) ? 'gzip' : chooseEncoding(this.accepted);
    }

    /**
     * A stored export written again in `encoding` beside the old file; the
     * entry then names the new file (durably) before the old one goes. The
     * sha256 names the new stored bytes.
     */
    private async storeAs(entry: QueueEntry, encoding: UploadEncoding): Promise<void> {
        const target = path.join(path.dirname(entry.export_file), storedName(entry.export_id, encoding));
        await transcode(entry.export_file, entry.encoding!, encoding, target);
        const { sha256, size } = await hashFile(target);
        const old = entry.export_file;
        const stored = { export_file: target, encoding, sha256, file_size_bytes: size };
        await this.options.queue.noteStored(entry.queue_id, stored);
        Object.assign(entry, stored);
        delete entry.wire;
        if (old !== target) await fs.rm(old, { force: true });
    }

    /** What is sent: the old service's file rewritten, one part of the file, or the file as it is. */
    private async bodyOf(entry: QueueEntry): Promise<Pick<UploadRequest, 'body' | 'source'>> {
        if (entry.encoding) return {};
        const old = await oldServiceExportBody(entry);
        if (old) return { body: old };
        const part = await partBody(entry);
        return part ? { source: part.stream } : {};
    }

    /** An upload's compressed size in an encoding: measured once (compressing it into nothing) and kept in its entry. */
    private async wireBytes(entry: QueueEntry, encoding: UploadEncoding): Promise<number> {
        if (entry.wire?.encoding === encoding) return entry.wire.bytes;
        if (entry.encoding === encoding) return entry.file_size_bytes;
        const body = await this.bodyOf(entry);
        const source = entry.encoding ? readPlain(entry.export_file, entry.encoding) : body.body ? Readable.from([body.body]) : body.source ? body.source() : createReadStream(entry.export_file);
        const bytes = await compressedSize(source, encoding);
        entry.wire = { encoding, bytes };
        await this.options.queue.noteWire(entry.queue_id, entry.wire);
        return bytes;
    }

    /**
     * What the link lets through now: everything on an unmetered link; on a
     * metered one urgent uploads always, bulk only what fits in what is left
     * of the day's budget (its compressed size and headers). While urgent
     * ones are due, bulk waits its turn unmeasured; then bulk ones are
     * measured (once, kept in the entry) in upload order up to the first that fits.
     */
    private async admission(centralUrl: string, force = false, skip?: ReadonlySet<string>): Promise<((entry: QueueEntry) => boolean) | undefined> {
        const link = this.options.link;
        if (!link || (await link.choice()).kind === 'unmetered') return undefined;
        const urgent = (entry: QueueEntry) => entryClass(entry) === 'urgent';
        const now = Date.now();
        const due = (e: QueueEntry) => !skip?.has(e.queue_id) && (force || !e.next_retry_at || !(Date.parse(e.next_retry_at) > now));
        const pending = (await this.options.queue.pending()).filter(due);
        if (pending.some(urgent)) return urgent;
        const left = (await link.budgetLeft()) ?? Infinity;
        const encoding = this.encodingFor(centralUrl);
        for (const entry of pending.sort(uploadOrder)) {
            if (left <= HEADER_ALLOWANCE_BYTES) break;
            // The plain size (and a margin for data that does not compress) bounds the compressed one: a small upload needs no measuring.
            const bound =
                entry.wire?.encoding === encoding
                    ? entry.wire.bytes
                    : entry.encoding === encoding
                      ? entry.file_size_bytes
                      : entry.encoding
                        ? Infinity // stored in another encoding: its size in this one is measured
                        : Math.ceil(plainSize(entry) * 1.01) + 1024;
            // One that cannot even be read is let through: its attempt fails it with the reason, instead of it waiting for ever.
            const cost = bound + HEADER_ALLOWANCE_BYTES <= left ? bound : await this.wireBytes(entry, encoding).catch(() => 0);
            if (cost + HEADER_ALLOWANCE_BYTES <= left) return (e) => urgent(e) || e.queue_id === entry.queue_id;
        }
        return urgent;
    }

    /** The exports waiting (this one included) and their bytes, for the central side's fleet page; the bytes of the first 50 listed. */
    private async backlog(): Promise<{ exports: number; bytes: number }> {
        const { pending_count, uploading_count, items } = await this.options.queue.snapshot();
        const bytes = [...items.pending, ...items.uploading].reduce((sum, e) => sum + (e.file_size_bytes || 0), 0);
        return { exports: pending_count + uploading_count, bytes };
    }

    /** Uploads need a central URL and a licence of Tier 1 or higher, read fresh each round. */
    private async gate(): Promise<{ blocked: string; because: BlockedBecause } | { centralUrl: string; token: string }> {
        const centralUrl = this.options.centralUrl();
        if (!centralUrl) return { blocked: 'No central API is set for this boat; exports stay queued', because: 'no-central-api' };
        let license: License;
        try {
            license = await this.options.license();
        } catch (err) {
            return { blocked: `Uploads are paused: ${errorMessage(err)}`, because: 'license-unreadable' };
        }
        if (license.tier < 1) return { blocked: `Uploads require Tier 1 or higher; this boat is Tier ${license.tier}`, because: 'tier-too-low' };
        return { centralUrl, token: this.options.deviceToken() || license.installation_id };
    }

    private setReach(problem: string | null): void {
        this.setState({ central_reachable: problem === null, central_problem: problem, last_check_at: new Date().toISOString() });
    }

    private setState(change: Partial<WorkerState>): void {
        Object.assign(this.state, change);
        this.options.onChange?.();
    }

    private tell(entry: QueueEntry, upload: UploadOutcome | null): void {
        const outcome = entry.status === 'completed' ? 'completed' : entry.status === 'failed' ? 'failed' : 'retry';
        this.options.onAttempt?.({
            outcome,
            entry,
            http_status: upload && 'status' in upload ? (upload.status ?? null) : null,
            reason: entry.status === 'completed' ? null : entry.last_error,
            already_imported: upload?.kind === 'accepted' ? upload.already_imported : false,
            bytes_sent: upload && 'bytes_sent' in upload ? upload.bytes_sent : 0,
        });
    }
}

function report(fields: Partial<RoundReport>): RoundReport {
    return { processed: 0, uploaded: 0, failed: 0, retry_scheduled: 0, waiting: false, message: '', ...fields };
}

function describeRound(done: RoundReport, state: WorkerState): string {
    if (done.processed === 0 && done.waiting) return `Exports stay queued: ${state.central_problem ?? 'the upload was stopped'}`;
    const parts = [`${done.uploaded} uploaded`];
    if (done.retry_scheduled > 0) parts.push(`${done.retry_scheduled} to retry later`);
    if (done.failed > 0) parts.push(`${done.failed} failed`);
    if (done.waiting) parts.push(`the rest wait: ${state.central_problem ?? 'the upload was stopped'}`);
    return `Queue processed: ${parts.join(', ')}`;
}
