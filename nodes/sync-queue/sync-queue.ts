import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { BoatDataError, errorMessage } from '../../lib/errors';
import type { FinishedExport } from '../../lib/export/export-file';
import { ExportQueue } from '../../lib/queue/export-queue';
import { parseRetrySchedule } from '../../lib/queue/retry-schedule';
import { AttemptReport, UploadWorker } from '../../lib/upload/worker';
import { boatConfig, handleInput, status } from '../shared/adapter';
import { reportToCatch } from '../shared/report-to-catch';
import { resolveEnv } from '../shared/boat-config';
import { describeStatus, queueStatus, QueueStatus } from './queue-status';
import { boatLink } from '../../lib/link/link';
import { linkAnswer } from '../../lib/link/answer';
import { choiceFromBody } from '../../lib/link/choice';
import { networkManagerSuggestion } from '../../lib/link/network-manager';
import { readOffboatState } from '../../lib/offboat/state';

interface SyncQueueDef extends NodeDef {
    boat: string;
    /** Seconds; "${D3KOS_QUEUE_POLL_S}" in the boat flow, empty meaning 60. */
    pollSeconds: string | number;
    /** "0,300,900"; "${D3KOS_RETRY_SCHEDULE}" in the boat flow, empty meaning that. */
    retrySchedule: string;
    /** Seconds an upload may go without an answer; empty meaning 30. */
    timeoutSeconds?: string | number;
}

const ACTIONS = ['status', 'process', 'retry-failed', 'cleanup', 'history', 'link', 'set-link'] as const;
/** Old entries are pruned at start and then on the first poll after this long. */
const CLEANUP_EVERY_MS = 60 * 60 * 1000;
/** Queue changes that come in a burst (a round of uploads) reach output 3 as one snapshot. */
const CHANGE_SETTLE_MS = 100;

export = function (RED: NodeAPI): void {
    function SyncQueueNode(this: Node, def: SyncQueueDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        let pollMs: number;
        let schedule: number[];
        let timeoutMs: number;
        let boat: ReturnType<typeof boatConfig>;
        try {
            pollMs = seconds(def.pollSeconds, 60, 'poll interval') * 1000;
            timeoutMs = seconds(def.timeoutSeconds, 30, 'upload timeout') * 1000;
            schedule = parseRetrySchedule(resolveEnv(def.retrySchedule));
            boat = boatConfig(RED, node, def.boat);
        } catch (err) {
            // A node that cannot start says why, in its status and to every message.
            status.error(node, err);
            reportToCatch(node, err, 'queue');
            node.on('input', (_msg: NodeMessage, _send: unknown, done: (err?: Error) => void) => done(err as Error));
            return;
        }

        const layout = boat.layout();
        const queue = new ExportQueue(layout, { retrySchedule: schedule });
        let damagedQueueFile: string | null = null;
        /** Set once the start-up recovery and adoption are done; a queue file set aside after that adopts again. */
        let started = false;
        const stopListening = queue.onProblem((message) => {
            damagedQueueFile = message;
            node.warn(message);
            changed();
            // A queue file set aside while running leaves its exports' files without entries: take them back.
            if (started) adopt().catch(background);
        });
        // The warning is in the log for good; the status shows it only until the queue is written fine again.
        const stopListeningCleared = queue.onProblemCleared(() => {
            damagedQueueFile = null;
            changed();
        });
        const link = boatLink(layout.root);
        if (link.defaultProblem()) node.warn(link.defaultProblem()!);
        // A switch of the link (to unmetered, a larger budget) sends what waited at once.
        const stopLinkListener = link.onChange(() => worker.process().catch(background));
        const worker = new UploadWorker({
            link,
            queue,
            watermarksFile: layout.watermarksFile,
            centralUrl: () => boat.centralUrl(),
            license: () => boat.license(),
            deviceToken: () => boat.deviceToken(),
            uploadTimeoutMs: timeoutMs,
            onAttempt: (report) => node.send([null, { topic: `upload/${report.outcome}`, payload: attemptPayload(report, schedule.length) } as NodeMessage, null]),
            onChange: () => changed(),
            onProblem: (message) => node.warn(message),
        });

        let closing = false;
        let lastCleanup = 0;
        let changeTimer: NodeJS.Timeout | null = null;
        const inputsAtWork = new Set<Promise<unknown>>();

        /** Export files no entry names go back into the queue, or are listed for the owner when they cannot be trusted. */
        async function adopt(): Promise<void> {
            const { adopted, untrusted } = await queue.adoptOrphans();
            if (adopted.length > 0) node.warn(RED._('sync-queue.log.adopted', { count: adopted.length, exports: adopted.map((e) => e.export_id).join(', ') }));
            for (const file of untrusted) node.warn(file.reason);
            if (adopted.length + untrusted.length > 0) changed();
        }

        // The boot upload: entries a crash left half-sent go back to pending, export files no entry names are
        // taken back, then the queue is processed at once.
        const recovered = queue
            .recover()
            .then((entries) => {
                if (entries.length > 0) node.log(RED._('sync-queue.log.recovered', { count: entries.length }));
                changed();
                return adopt();
            })
            .catch((err) => background(err))
            .then(() => {
                started = true;
            });
        recovered.then(() => poll());
        // setInterval takes at most ~24.8 days; a longer poll is as good as that.
        const pollTimer = setInterval(() => poll(), Math.min(pollMs, 2 ** 31 - 1));

        function poll(): void {
            if (closing) return;
            const cleanup = Date.now() - lastCleanup >= CLEANUP_EVERY_MS ? queue.cleanup() : null;
            if (cleanup) {
                lastCleanup = Date.now();
                cleanup.then((removed) => removed.removed_completed + removed.removed_failed > 0 && changed(), background);
            }
            worker.process().catch(background);
        }

        /** Work nobody's message waits for (the poll, the boot upload) reports through node.error with a message, which Catch nodes see. */
        function background(err: unknown): void {
            if (closing) return;
            status.error(node, err);
            reportToCatch(node, err, 'queue');
        }

        async function currentStatus(): Promise<QueueStatus> {
            return queueStatus(await queue.snapshot(), worker.state, damagedQueueFile, queue.untrustedFiles(), pollMs);
        }

        function changed(): void {
            if (closing || changeTimer) return;
            changeTimer = setTimeout(() => {
                changeTimer = null;
                currentStatus().then((current) => {
                    if (closing) return;
                    const shown = describeStatus(current);
                    status[shown.kind](node, RED._(`sync-queue.status.${shown.key}`, shown.values));
                    node.send([null, null, { topic: 'queue', payload: current } as NodeMessage]);
                }, background);
            }, CHANGE_SETTLE_MS);
        }

        async function enqueue(msg: NodeMessage & Record<string, any>): Promise<Record<string, unknown>> {
            const result = await queue.enqueue(msg.export as FinishedExport);
            const exp = msg.export as FinishedExport;
            changed();
            worker.process().catch(background);
            const already = typeof msg.payload === 'object' && msg.payload !== null && !Array.isArray(msg.payload) ? msg.payload : {};
            return {
                ...already,
                success: true,
                export_id: exp.export_id,
                queue_id: result.entry.queue_id,
                export_file: exp.export_file,
                category_count: exp.category_count,
                statistics: exp.statistics,
                mode: exp.mode,
                already_queued: result.already_queued,
                superseded: result.superseded.map((e) => e.export_id),
            };
        }

        async function currentLink() {
            const copy = (await readOffboatState(layout.root).catch(() => null))?.pending ?? null;
            return linkAnswer(link, await queue.pending(), copy, await networkManagerSuggestion());
        }

        async function act(action: string, msg: NodeMessage & Record<string, any>): Promise<Record<string, unknown>> {
            switch (action) {
                case 'status':
                    return { success: true, ...(await currentStatus()) };
                case 'process': {
                    // Read fresh: a boat moved to Tier 0 hears why nothing goes out.
                    const license = await boat.license();
                    if (license.tier < 1) throw new BoatDataError('TIER_TOO_LOW', `Uploads require Tier 1 or higher; this boat is Tier ${license.tier}`, 403);
                    const round = await worker.process({ force: true });
                    const now = await currentStatus();
                    return {
                        success: true,
                        message: round.message,
                        processed: round.processed,
                        uploaded: round.uploaded,
                        failed: round.failed,
                        retry_scheduled: round.retry_scheduled,
                        waiting: round.waiting,
                        ...counts(now),
                        central_reachable: now.central_reachable,
                        uploads_blocked: now.uploads_blocked,
                    };
                }
                case 'retry-failed': {
                    const retried = await queue.retryFailed();
                    changed();
                    if (retried.length > 0) worker.process().catch(background);
                    return {
                        success: true,
                        retried: retried.length,
                        export_ids: retried.map((e) => e.export_id),
                        message: retried.length > 0 ? `${retried.length} failed export(s) will be uploaded again` : 'No failed exports to retry',
                        ...counts(await currentStatus()),
                    };
                }
                case 'cleanup': {
                    const removed = await queue.cleanup();
                    lastCleanup = Date.now();
                    changed();
                    return {
                        success: true,
                        ...removed,
                        message: `Removed ${removed.removed_completed} completed export(s) older than 30 days and ${removed.removed_failed} failed export(s) older than 7 days`,
                        ...counts(await currentStatus()),
                    };
                }
                case 'link':
                    return { ...(await currentLink()) };
                case 'set-link': {
                    const body = typeof msg.payload === 'object' && msg.payload !== null && !Array.isArray(msg.payload) ? (msg.payload as Record<string, unknown>) : {};
                    await link.setChoice(choiceFromBody(body, await link.choice()));
                    return { ...(await currentLink()) };
                }
                case 'history': {
                    const { history, recent } = await queue.uploadHistory();
                    return { success: true, count: history.length, history, recent };
                }
                default:
                    throw new BoatDataError('QUEUE_ACTION_UNKNOWN', `The upload queue has no action ${JSON.stringify(action)}; use one of ${ACTIONS.join(', ')}`, 400);
            }
        }

        handleInput(node, async (msg, send) => {
            const work = (async () => {
                await recovered;
                if (closing) throw new BoatDataError('QUEUE_STOPPING', 'The upload queue is stopping (a redeploy or shutdown); send the request again in a moment', 503);
                const hasAction = msg.action !== undefined && msg.action !== null && msg.action !== '';
                if (hasAction) return act(String(msg.action), msg);
                if (msg.export !== undefined) return enqueue(msg);
                throw new BoatDataError('QUEUE_NOTHING_TO_DO', `The upload queue needs msg.export (an export to queue) or msg.action (one of ${ACTIONS.join(', ')})`, 400);
            })();
            inputsAtWork.add(work);
            try {
                msg.payload = await work;
            } finally {
                inputsAtWork.delete(work);
            }
            send([msg, null, null]);
        });

        node.on('close', (_removed: boolean, done: () => void) => {
            closing = true;
            clearInterval(pollTimer);
            if (changeTimer) clearTimeout(changeTimer);
            stopListening();
            stopListeningCleared();
            stopLinkListener();
            // The upload in flight is aborted and its entry written back to pending before done().
            Promise.all([worker.stop(), recovered, ...[...inputsAtWork].map((p) => p.catch(() => undefined))])
                .catch((err) => node.warn(errorMessage(err)))
                .then(() => done());
        });
    }

    RED.nodes.registerType('d3kos-sync-queue', SyncQueueNode);
};

function counts(current: QueueStatus): Record<string, number> {
    return {
        pending_count: current.pending_count,
        uploading_count: current.uploading_count,
        completed_count: current.completed_count,
        failed_count: current.failed_count,
    };
}

function attemptPayload(report: AttemptReport, maxAttempts: number): Record<string, unknown> {
    const { entry } = report;
    return {
        outcome: report.outcome,
        export_id: entry.export_id,
        queue_id: entry.queue_id,
        status: entry.status,
        mode: entry.mode ?? null,
        attempts: entry.retry_count,
        max_attempts: maxAttempts,
        next_retry_at: entry.next_retry_at,
        reason: report.reason,
        http_status: report.http_status,
        import_id: entry.import_id ?? null,
        records_imported: entry.records_imported ?? null,
        already_imported: report.already_imported,
        file_size_bytes: entry.file_size_bytes,
        bytes_sent: report.bytes_sent,
    };
}

/** A number of seconds from the editor or an environment variable; empty means the default. */
function seconds(value: string | number | undefined, fallback: number, what: string): number {
    const text = typeof value === 'number' ? String(value) : resolveEnv(value).trim();
    if (text === '') return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new BoatDataError('QUEUE_SETTING_INVALID', `The upload queue's ${what} "${text}" is not a number of seconds above 0`, 400);
    return n;
}
