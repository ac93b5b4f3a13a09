import { createReadStream } from 'fs';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { CronJob } from 'cron';
import { formatBytes } from '../../lib/format';
import { boatConfig, handleInput, status, WorkInFlight } from '../shared/adapter';
import { BoatDataError, errorCode, errorMessage } from '../../lib/errors';
import {
    BackupSchedule,
    BackupSettings,
    backupForDownload,
    createBackup,
    cronFor,
    DEFAULT_KEEP,
    drillBackup,
    drillDue,
    drillProblem,
    readDrills,
    removeLeftoverScratch,
    finishInterruptedRestore,
    listBackups,
    parseSchedule,
    pruneOldBackups,
    readSchedule,
    restoreBackup,
    scheduleFile,
    SCHEDULES,
    verifyBackup,
    writeSchedule,
} from '../../lib/backup';
import { clearProblem, raiseProblem } from '../../lib/status/problems';

interface BackupDef extends NodeDef {
    boat: string;
    /** Empty: the boat configuration's backup folder. A USB drive's folder goes here. */
    backupDir: string;
    keep: string | number;
    /** Empty: this Node-RED's own flows file (or the d3kOS default); `none`: left out of backups. */
    flowsFile: string;
    /** Empty: the d3kOS default under /home/d3kos/.signalk; `none`: left out of backups. */
    signalkSettings: string;
    signalkPluginConfig: string;
    /** The schedule until one is chosen on the dashboard (the choice is remembered). */
    schedule: BackupSchedule;
    requireMount: 'auto' | 'yes' | 'no';
}

const ACTIONS = ['create', 'list', 'verify', 'drill', 'restore', 'prune', 'schedule', 'download'] as const;
/** How often /health's word on the restore drills is brought up to date without any backup action. */
const DRILL_CHECK_MS = 60 * 60 * 1000;
type Action = (typeof ACTIONS)[number];
type Message = NodeMessage & Record<string, any>;
const INTERRUPTED_PROBLEM = 'backup:interrupted-restore';
/** How long /health tells of a restore finished or undone at start (a later restore clears it). */
const INTERRUPTED_TOLD_MS = 7 * 24 * 60 * 60 * 1000;

export = function (RED: NodeAPI): void {
    function BackupNode(this: Node, def: BackupDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const keep = Number(def.keep) >= 1 ? Math.floor(Number(def.keep)) : DEFAULT_KEEP;
        const defaultSchedule: BackupSchedule = SCHEDULES.includes(def.schedule) ? def.schedule : 'off';
        let job: CronJob | null = null;
        let schedule: BackupSchedule = 'off';
        let closing = false;
        const inFlight = new WorkInFlight();

        function settings(): BackupSettings {
            const layout = boatConfig(RED, node, def.boat).layout();
            const configured = (value: string | undefined) => (value ?? '').trim() || null;
            const flowsFile = sourcePath(def.flowsFile);
            return {
                layout: configured(def.backupDir) ? { ...layout, backupDir: configured(def.backupDir)! } : layout,
                keep,
                flowsFile: flowsFile === undefined ? (ownFlowsFile(RED) ?? undefined) : flowsFile,
                signalkSettings: sourcePath(def.signalkSettings),
                signalkPluginConfig: sourcePath(def.signalkPluginConfig),
                requireMountedDrive: def.requireMount === 'yes' ? true : def.requireMount === 'no' ? false : undefined,
            };
        }

        function applySchedule(next: BackupSchedule): void {
            job?.stop();
            job = null;
            schedule = next;
            const cron = cronFor(next);
            if (cron && !closing) job = CronJob.from({ cronTime: cron, onTick: () => void inFlight.track(automaticBackup()), start: true });
        }

        function showBackup(made: { created_at: string; size_bytes: number }): void {
            status.ok(node, RED._('backup.status.last', { when: formatWhen(made.created_at), size: formatBytes(made.size_bytes) }));
        }

        /** A scheduled backup has no caller to tell: a failure turns the status red and goes out as an alert. */
        async function automaticBackup(): Promise<void> {
            if (closing) return;
            status.working(node, RED._('backup.status.automatic'));
            try {
                const made = await createBackup(settings());
                showBackup(made.backup);
                const result: Message = { topic: 'backup', action: 'create', automatic: true, payload: made };
                node.send([result, made.warnings.length > 0 ? alert('warning', RED._('backup.alert.warnings', { name: made.backup.name, warnings: made.warnings.join('; ') })) : null]);
            } catch (err) {
                status.error(node, err);
                node.warn(RED._('backup.alert.failed', { reason: errorMessage(err) }));
                node.send([null, alert('critical', RED._('backup.alert.failed', { reason: errorMessage(err) }), errorCode(err), errorMessage(err))]);
                return;
            }
            // Weekly, an automatic backup is proven restorable right after it is made.
            try {
                if (!closing && drillDue(await readDrills(settings().layout.backupDir), new Date())) await automaticDrill();
                else await updateDrillProblem();
            } catch (err) {
                status.error(node, err);
                node.warn(RED._('backup.alert.drillNotRun', { reason: errorMessage(err) }));
                node.send([null, alert('warning', RED._('backup.alert.drillNotRun', { reason: errorMessage(err) }), errorCode(err), errorMessage(err))]);
            }
        }

        async function automaticDrill(): Promise<void> {
            status.working(node, RED._('backup.status.drilling'));
            const drilled = await drillBackup(settings());
            showDrill(drilled);
            await updateDrillProblem();
            const failed = drilled.success ? null : alert('critical', RED._('backup.alert.drillFailed', { name: drilled.name, reason: drilled.error }), 'DRILL_FAILED', drilled.error);
            node.send([{ topic: 'backup', action: 'drill', automatic: true, payload: drilled }, failed]);
        }

        function showDrill(drilled: Awaited<ReturnType<typeof drillBackup>>): void {
            if (drilled.success) status.ok(node, RED._('backup.status.proven', { name: drilled.name }));
            else status.warn(node, RED._('backup.status.drillFailed', { name: drilled.name }));
        }

        /** What /health says of the drills: the newest backup failed one, or none was proven for two weeks. */
        let drillProblemKey: string | null = null;
        async function updateDrillProblem(): Promise<void> {
            const s = settings();
            const { backups } = await listBackups(s);
            const problem = drillProblem(backups, schedule !== 'off', new Date());
            drillProblemKey = `backup-drill:${path.resolve(s.layout.backupDir)}`;
            if (problem) raiseProblem(drillProblemKey, s.layout.root, problem);
            else clearProblem(drillProblemKey);
        }
        const drillCheck = setInterval(() => void updateDrillProblem().catch(() => undefined), DRILL_CHECK_MS);

        function alert(level: 'warning' | 'critical', message: string, code?: string, reason?: string): Message {
            const payload = { level, source: 'backup', message, error_code: code ?? null, reason: reason ?? null, timestamp: new Date().toISOString() };
            return { topic: 'backup-alert', payload };
        }

        // At start: a restore a power cut cut off is finished or undone first (interrupted.ts), then the remembered
        // schedule (or the node's default), and the newest backup in the status.
        const starting = inFlight.track(
            (async () => {
                const s = settings();
                try {
                    const interrupted = await finishInterruptedRestore(s);
                    if (interrupted) {
                        node.warn(interrupted.problem);
                        raiseProblem(INTERRUPTED_PROBLEM, s.layout.root, interrupted.problem, { forMs: INTERRUPTED_TOLD_MS });
                    }
                } catch (err) {
                    const problem = RED._('backup.alert.interrupted', { reason: errorMessage(err) });
                    node.error(problem);
                    raiseProblem(INTERRUPTED_PROBLEM, s.layout.root, problem);
                }
                let stored: BackupSchedule | null = null;
                try {
                    stored = await readSchedule(scheduleFile(s.layout.root));
                } catch (err) {
                    node.warn(errorMessage(err));
                }
                applySchedule(stored ?? defaultSchedule);
                // A drill cut off by a power cut left plain copies of the boat's files (secrets too).
                await removeLeftoverScratch(s.layout.root);
                const { last_backup } = await listBackups(s);
                if (last_backup) showBackup(last_backup);
                else status.clear(node);
            })().catch((err) => status.warn(node, errorMessage(err))),
        );

        // /health's word on the drills, once the schedule is known.
        void inFlight.track(starting.then(updateDrillProblem)).catch(() => undefined);

        handleInput(node, async (msg, send) => {
            const action = String(msg.action ?? msg.topic ?? '')
                .trim()
                .toLowerCase() as Action;
            if (!ACTIONS.includes(action)) {
                throw new BoatDataError('ACTION_UNKNOWN', `the backup node does not know the action ${JSON.stringify(msg.action ?? msg.topic ?? '')}; use one of ${ACTIONS.join(', ')}`, 400);
            }
            const params: Record<string, any> = typeof msg.payload === 'object' && msg.payload !== null && !Buffer.isBuffer(msg.payload) ? msg.payload : {};
            const name = params.name ?? msg.req?.params?.name ?? (typeof msg.payload === 'string' ? msg.payload : undefined);
            await starting;
            msg.action = action;
            switch (action) {
                case 'create': {
                    status.working(node, RED._('backup.status.creating'));
                    const made = await inFlight.track(createBackup(settings()));
                    showBackup(made.backup);
                    msg.payload = made;
                    break;
                }
                case 'list':
                    msg.payload = { ...(await inFlight.track(listBackups(settings()))), schedule, next_automatic_at: job ? job.nextDate().toJSDate().toISOString() : null };
                    break;
                case 'verify': {
                    status.working(node, RED._('backup.status.verifying'));
                    const verified = await inFlight.track(verifyBackup(settings(), name, { acceptUnauthenticated: params.accept_unauthenticated === true }));
                    status.ok(node, RED._('backup.status.verified', { name: verified.name }));
                    msg.payload = verified;
                    break;
                }
                case 'drill': {
                    status.working(node, RED._('backup.status.drilling'));
                    const drilled = await inFlight.track(drillBackup(settings(), name));
                    showDrill(drilled);
                    // A failed drill is an answer, not an error of the request: 422 with what failed.
                    if (!drilled.success) msg.statusCode = 422;
                    msg.payload = drilled;
                    break;
                }
                case 'restore': {
                    status.working(node, RED._('backup.status.restoring'));
                    const keepId = params.keep_installation_id ?? params.keepInstallationId;
                    // An encrypted backup from another card opens with the owner's recovery key (off-boat node's recover); used, never kept.
                    const identities = typeof params.recovery_key === 'string' ? [params.recovery_key.trim()] : undefined;
                    // A backup without an authenticator restores only when the owner says it is theirs (docs/backup-integrity.md).
                    const acceptUnauthenticated = params.accept_unauthenticated === true;
                    const report = await inFlight.track(restoreBackup({ ...settings(), identities }, name, { keepInstallationId: keepId !== false && keepId !== 'false', acceptUnauthenticated }));
                    // The restored files may hold another schedule choice.
                    applySchedule((await readSchedule(scheduleFile(settings().layout.root)).catch(() => null)) ?? schedule);
                    clearProblem(INTERRUPTED_PROBLEM);
                    status.ok(node, RED._('backup.status.restored', { name: report.restored }));
                    msg.payload = report;
                    break;
                }
                case 'prune': {
                    const keepNow = params.keep === undefined ? undefined : Number(params.keep);
                    if (keepNow !== undefined && !(Number.isInteger(keepNow) && keepNow >= 1)) {
                        throw new BoatDataError('KEEP_INVALID', `keep must be a whole number of backups, 1 or more, not ${JSON.stringify(params.keep)}`, 400);
                    }
                    msg.payload = await inFlight.track(pruneOldBackups(settings(), keepNow));
                    break;
                }
                case 'schedule': {
                    const wanted = params.schedule ?? (typeof msg.payload === 'string' ? msg.payload : undefined);
                    if (wanted !== undefined) {
                        const chosen = parseSchedule(wanted);
                        await writeSchedule(scheduleFile(settings().layout.root), chosen);
                        applySchedule(chosen);
                    }
                    msg.payload = { success: true, schedule, cron: cronFor(schedule), next_run: job ? job.nextDate().toJSDate().toISOString() : null };
                    break;
                }
                case 'download':
                    await download(msg, name);
                    break;
            }
            if (action !== 'download' && action !== 'verify') await updateDrillProblem().catch(() => undefined);
            send([msg, null]);
        });

        /**
         * An archive can be hundreds of MB: it is streamed straight into the
         * HTTP answer (an http response node would hold it whole in memory).
         * Without an HTTP request the message carries the file's path instead.
         */
        async function download(msg: Message, name: unknown): Promise<void> {
            const archive = await backupForDownload(settings(), name);
            const headers = {
                'Content-Type': 'application/gzip',
                'Content-Disposition': `attachment; filename="${archive.name}"`,
                'Content-Length': String(archive.size),
            };
            const res = msg.res?._res;
            if (!res) {
                msg.filename = archive.file;
                msg.headers = headers;
                msg.payload = { success: true, name: archive.name, size_bytes: archive.size, path: archive.file };
                return;
            }
            // Answered here: the flow must not answer this request again, on success or failure.
            delete msg.res;
            res.status(200).set(headers);
            await inFlight.track(pipeline(createReadStream(archive.file), res));
            msg.payload = { success: true, name: archive.name, size_bytes: archive.size, streamed: true };
        }

        node.on('close', (done: () => void) => {
            closing = true;
            job?.stop();
            job = null;
            clearInterval(drillCheck);
            if (drillProblemKey) clearProblem(drillProblemKey);
            // A backup or restore in flight is finished, not cut off half-way.
            inFlight.settled().then(() => done());
        });
    }

    RED.nodes.registerType('d3kos-backup', BackupNode);
};

/** What a backup takes from outside the data root: empty is the default place (undefined), `none` leaves it out (null). */
function sourcePath(value: string | undefined): string | null | undefined {
    const text = (value ?? '').trim();
    if (text === '') return undefined;
    return text.toLowerCase() === 'none' ? null : text;
}

/** The flows file of the Node-RED this node runs in, when the runtime says where it is. */
function ownFlowsFile(RED: NodeAPI): string | null {
    const settings = RED.settings as unknown as { userDir?: string; flowFile?: string };
    if (!settings.userDir) return null;
    return path.resolve(settings.userDir, settings.flowFile || 'flows.json');
}

function formatWhen(iso: string): string {
    return new Intl.DateTimeFormat('en-GB', { day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}
