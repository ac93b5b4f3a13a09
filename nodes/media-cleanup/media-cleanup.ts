import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { boatConfig, handleInput, Send, status } from '../shared/adapter';
import { reportToCatch } from '../shared/report-to-catch';
import { BoatDataError } from '../../lib/errors';
import { formatBytes } from '../../lib/format';
import { checkDisk, cleanUpMedia, CleanupReport, DiskLevel, mediaStateFile, mediaStatus, parseMaxAgeDays, readLastCleanup, recordCleanup, resolvePolicy, RetentionPolicy } from '../../lib/media';

interface MediaCleanupDef extends NodeDef {
    boat: string;
    maxAgeDays: string;
    extensions: string;
    warningPercent: string;
    warningTargetPercent: string;
    criticalPercent: string;
    criticalTargetPercent: string;
    dryRun: boolean;
}

type Action = 'cleanup' | 'check' | 'status';
const ACTIONS: Action[] = ['cleanup', 'check', 'status'];

/** The disk check runs every few minutes: an alert of the same level is repeated at most this often. */
const ALERT_REPEAT_MS = 60 * 60 * 1000;
const RANK: Record<DiskLevel, number> = { ok: 0, warning: 1, critical: 2 };

export = function (RED: NodeAPI): void {
    function MediaCleanup(this: Node, def: MediaCleanupDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const stopping = new AbortController();
        /** Cleanups run one at a time, in the order asked; close() waits for this. */
        let queue: Promise<unknown> = Promise.resolve();
        let cleanupsWaiting = 0;
        let lastCheckAlert: { level: DiskLevel; at: number } | null = null;
        // A bad setting fails every message with its reason (and shows red) rather than leaving the node deaf.
        let policy: RetentionPolicy;
        let settingsProblem: unknown = null;
        try {
            policy = resolvePolicy(def);
            showDiskAtStart();
        } catch (err) {
            settingsProblem = err;
            policy = resolvePolicy({});
            status.error(node, err);
            reportToCatch(node, err, 'media-cleanup');
        }

        handleInput(node, async (msg, send) => {
            if (settingsProblem) throw settingsProblem;
            const action: Action = msg.action ?? 'cleanup';
            if (!ACTIONS.includes(action)) {
                throw new BoatDataError('ACTION_UNKNOWN', `msg.action "${msg.action}" is not one of ${ACTIONS.join(', ')}`, 400);
            }
            const layout = boatConfig(RED, node, def.boat).layout();
            if (action === 'status') {
                status.working(node, RED._('media-cleanup.status.counting'));
                const [media, last] = await Promise.all([mediaStatus(layout.mediaDir, policy, stopping.signal), readLastCleanup(mediaStateFile(layout.root))]);
                if (last.problem) node.warn(last.problem);
                msg.payload = {
                    success: true,
                    media_dir: media.media_dir,
                    media_dir_exists: media.media_dir_exists,
                    disk: media.disk,
                    media_files: media.media_files,
                    media_bytes: media.media_bytes,
                    level: media.level,
                    last_cleanup: last.last,
                    cleanup_running: cleanupsWaiting > 0,
                };
                showDisk(media.disk.used_percent, media.level, RED._('media-cleanup.status.files', { count: media.media_files, size: formatBytes(media.media_bytes) }));
                send([msg, null]);
                return;
            }
            if (action === 'check') {
                const check = await checkDisk(layout.mediaDir, policy);
                const needsCleanup = check.level !== 'ok' && cleanupsWaiting === 0;
                if (check.level === 'ok') lastCheckAlert = null;
                const report = needsCleanup ? await cleanUp(layout.mediaDir, layout.root, policy, def.dryRun === true, 'disk-check') : null;
                msg.payload = { success: true, ...check, cleaned_up: report !== null, cleanup: report };
                if (report) answer(msg, send, report);
                else {
                    showDisk(check.disk.used_percent, check.level, cleanupsWaiting > 0 ? RED._('media-cleanup.status.running') : '');
                    send([msg, null]);
                }
                return;
            }
            const { dryRun, policy: asked } = overrides(msg.payload, def.dryRun === true, policy);
            const report = await cleanUp(layout.mediaDir, layout.root, asked, dryRun, triggerOf(msg));
            msg.payload = report;
            answer(msg, send, report);
        });

        /** Queued behind any cleanup already running; the record is written even for one stopped part way. */
        function cleanUp(mediaDir: string, root: string, asked: RetentionPolicy, dryRun: boolean, trigger: string): Promise<CleanupReport> {
            cleanupsWaiting++;
            const run = queue.then(async () => {
                status.working(node, RED._(dryRun ? 'media-cleanup.status.dryRunning' : 'media-cleanup.status.cleaning'));
                const report = await cleanUpMedia({ mediaDir, policy: asked, dryRun, trigger, signal: stopping.signal });
                await recordCleanup(mediaStateFile(root), report);
                if (report.stopped) {
                    throw new BoatDataError(
                        'MEDIA_CLEANUP_STOPPED',
                        `the media cleanup was stopped part way (flow redeployed or Node-RED stopping) after deleting ${report.deleted_count} recording(s)`,
                        503,
                    );
                }
                return report;
            });
            queue = run.catch(() => undefined).finally(() => cleanupsWaiting--);
            return run;
        }

        function answer(msg: NodeMessage & Record<string, any>, send: Send, report: CleanupReport): void {
            const alert = report.alert && shouldAlert(report) ? alertMessage(report) : null;
            const text = RED._(report.dry_run ? 'media-cleanup.status.wouldDelete' : 'media-cleanup.status.deleted', {
                count: report.deleted_count,
                size: formatBytes(report.freed_bytes),
            });
            const after = report.dry_run ? report.usage_before_percent : report.usage_after_percent;
            showDisk(after, stillOver(report) ? report.level : 'ok', text);
            send([msg, alert]);
        }

        function shouldAlert(report: CleanupReport): boolean {
            if (report.trigger !== 'disk-check') return true;
            const now = Date.now();
            const repeat = lastCheckAlert && RANK[lastCheckAlert.level] >= RANK[report.level] && now - lastCheckAlert.at < ALERT_REPEAT_MS;
            if (repeat) return false;
            lastCheckAlert = { level: report.level, at: now };
            return true;
        }

        function showDisk(usedPercent: number, level: DiskLevel, detail: string): void {
            const text = RED._('media-cleanup.status.disk', { percent: Math.round(usedPercent) }) + (detail ? ` · ${detail}` : '');
            (level === 'ok' ? status.ok : status.warn)(node, text);
        }

        function showDiskAtStart(): void {
            Promise.resolve()
                .then(async () => {
                    const layout = boatConfig(RED, node, def.boat).layout();
                    const [check, last] = await Promise.all([checkDisk(layout.mediaDir, policy), readLastCleanup(mediaStateFile(layout.root))]);
                    const detail = last.last ? RED._('media-cleanup.status.last', { count: last.last.deleted_count, at: last.last.at.slice(0, 10) }) : '';
                    showDisk(check.disk.used_percent, check.level, detail);
                })
                .catch((err) => status.error(node, err));
        }

        node.on('close', (done: () => void) => {
            stopping.abort();
            queue.then(() => done());
        });
    }

    RED.nodes.registerType('d3kos-media-cleanup', MediaCleanup);
};

/** msg.payload.dry_run and msg.payload.max_age_days (a REST body, a dashboard button) override the node's settings. */
function overrides(payload: unknown, dryRunDefault: boolean, policy: RetentionPolicy): { dryRun: boolean; policy: RetentionPolicy } {
    const body = payload && typeof payload === 'object' && !Buffer.isBuffer(payload) ? (payload as Record<string, unknown>) : {};
    let dryRun = dryRunDefault;
    if (body.dry_run !== undefined && body.dry_run !== null) {
        if (typeof body.dry_run !== 'boolean') {
            throw new BoatDataError('DRY_RUN_INVALID', `dry_run must be true or false; got ${JSON.stringify(body.dry_run)}`, 400);
        }
        dryRun = body.dry_run;
    }
    const maxAgeDays = body.max_age_days === undefined || body.max_age_days === null ? policy.maxAgeDays : parseMaxAgeDays(body.max_age_days);
    return { dryRun, policy: { ...policy, maxAgeDays } };
}

function triggerOf(msg: NodeMessage & Record<string, any>): string {
    if (typeof msg.trigger === 'string' && msg.trigger) return msg.trigger;
    if (msg.schedule) return 'schedule';
    if (msg.req) return 'request';
    return 'manual';
}

function stillOver(report: CleanupReport): boolean {
    return report.target_percent !== null && report.usage_after_percent >= report.target_percent;
}

/** The second output: one message per alert, shaped for a dashboard notification or a Signal K notification. */
function alertMessage(report: CleanupReport): NodeMessage {
    return {
        topic: 'media-storage-alert',
        payload: {
            level: report.alert!.level,
            used_percent: report.usage_before_percent,
            usage_after_percent: report.usage_after_percent,
            message: report.alert!.message,
            media_dir: report.media_dir,
            deleted_count: report.deleted_count,
            freed_bytes: report.freed_bytes,
            dry_run: report.dry_run,
            trigger: report.trigger,
            at: report.finished_at,
        },
    } as NodeMessage;
}
