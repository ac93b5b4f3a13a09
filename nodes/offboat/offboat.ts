import * as path from 'path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { CronJob } from 'cron';
import { boatConfig, handleInput, status, WorkInFlight } from '../shared/adapter';
import { BoatDataError, errorMessage } from '../../lib/errors';
import { keepRecoveryRecipient, makeRecoveryKey, recoveryRecipient } from '../../lib/crypto/keys';
import { isIdentityText } from '../../lib/crypto/age';
import { downloadCentralCopy } from '../../lib/recover/download';
import { checkDownloadedCopy } from '../../lib/recover/recover';
import { OffboatWorker } from '../../lib/offboat/worker';
import { OffboatState, parseOffboatMode, readOffboatState, updateOffboatState } from '../../lib/offboat/state';
import { recoverySheet } from '../../lib/offboat/recovery-sheet';
import { checkRecoveryKey } from '../../lib/offboat/key-check';
import { boatLink } from '../../lib/link/link';

interface OffboatDef extends NodeDef {
    boat: string;
    /** Empty: the boat configuration's backup folder (set it as on the backup node when that one uses a USB drive). */
    backupDir: string;
    /** How often a waiting copy is tried again, in seconds. */
    pollSeconds: string | number;
    /** Largest upload request in KB; empty or 0: the rest of the file in one (see send.ts). */
    chunkKB?: string | number;
}

const ACTIONS = ['recovery-key', 'recovery-key-check', 'offboat', 'status', 'send', 'recover'] as const;
/** The backup node's own actions: its results pass by here, and only an automatic backup matters. */
const BACKUP_ACTIONS = ['create', 'list', 'verify', 'drill', 'restore', 'prune', 'schedule', 'download'];
type Action = (typeof ACTIONS)[number];
type Message = NodeMessage & Record<string, any>;
/** Weekly copies go on Sunday at 03:00, after the weekly backup of 02:00. */
const WEEKLY_CRON = '0 0 3 * * 0';

export = function (RED: NodeAPI): void {
    function OffboatNode(this: Node, def: OffboatDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const boat = boatConfig(RED, node, def.boat);
        const layout = boat.layout();
        const root = layout.root;
        const backupDir = () => (def.backupDir ?? '').trim() || layout.backupDir;
        const pollMs = Math.max(1, Number(def.pollSeconds) || 60) * 1000;
        const inFlight = new WorkInFlight();
        let closing = false;
        let progress: { sent: number; total: number } | null = null;

        const link = boatLink(root);
        const worker = new OffboatWorker({
            link,
            root,
            backupDir,
            centralUrl: () => boat.centralUrl(),
            token: async () =>
                boat.deviceToken() ??
                (await boat.license().then(
                    (l) => l.installation_id,
                    () => null,
                )),
            chunkSize: Number(def.chunkKB) > 0 ? Math.floor(Number(def.chunkKB) * 1024) : undefined,
            onChange: (state) => show(state),
            onProgress: (sent, total) => {
                progress = { sent, total };
            },
        });

        function show(state: OffboatState): void {
            if (state.pending) status.working(node, RED._('offboat.status.pending', { name: state.pending.name.slice(13, 28), reason: state.pending.last_error ?? '' }).trim());
            else if (state.last_sent) status.ok(node, RED._('offboat.status.sent', { name: state.last_sent.name.slice(13, 28) }));
            else status.ok(node, RED._('offboat.status.mode', { mode: state.mode }));
        }

        function round(): void {
            if (closing) return;
            inFlight
                .track(worker.process())
                .then((r) => {
                    if (r.result === 'sent') node.send([{ topic: 'offboat/sent', payload: r } as NodeMessage, null]);
                    if (r.result === 'waiting' && r.tryCounted) node.warn(r.reason);
                })
                .catch((err) => {
                    status.error(node, err);
                    node.error(errorMessage(err));
                });
        }

        // At start: a copy a power cut interrupted goes on at once, from the byte the central side has.
        readOffboatState(root).then(show, () => undefined);
        round();
        const timer = setInterval(round, Math.min(pollMs, 2 ** 31 - 1));
        // Unmetered now, or backups allowed over the link: a copy that waited goes at once.
        const stopLinkListener = link.onChange(round);
        const weekly = CronJob.from({
            cronTime: WEEKLY_CRON,
            start: true,
            onTick: () => void queueIf('weekly'),
        });

        async function queueIf(mode: 'every' | 'weekly', name?: string): Promise<void> {
            const state = await readOffboatState(root);
            if (state.mode !== mode) return;
            await worker.queueNewest(name);
            round();
        }

        /** Where the boat's copies are kept ashore, when a central server is set and the license names the boat. */
        async function centralVault(): Promise<{ centralUrl: string; installationId: string; token: string } | null> {
            const centralUrl = boat.centralUrl();
            const installationId = await boat.license().then(
                (l) => l.installation_id,
                () => null,
            );
            if (!centralUrl || !installationId) return null;
            return { centralUrl, installationId, token: boat.deviceToken() ?? installationId };
        }

        async function describe(): Promise<Record<string, unknown>> {
            const state = await readOffboatState(root);
            const recovery = await recoveryRecipient(root);
            return {
                success: true,
                mode: state.mode,
                pending: state.pending ? { ...state.pending, upload_url: undefined, sent_bytes: progress?.sent ?? null } : null,
                last_sent: state.last_sent,
                // Never the key: whether there is one, when it was made, and its public half.
                recovery_key: recovery ? { exists: true, created_at: recovery.created_at, recipient: recovery.recipient } : { exists: false },
                encrypted_backups: recovery !== null,
            };
        }

        handleInput(node, async (msg: Message, send) => {
            // The backup node's automatic backups: the copy leaves the boat when the owner chose "every".
            if (BACKUP_ACTIONS.includes(String(msg.action))) {
                const made = msg.payload as { backup?: { encrypted?: boolean; name?: string } } | undefined;
                if (msg.action === 'create' && msg.automatic && made?.backup?.encrypted) await queueIf('every', made.backup.name);
                return;
            }
            const action = String(msg.action ?? msg.topic ?? '')
                .trim()
                .toLowerCase() as Action;
            if (!ACTIONS.includes(action)) {
                throw new BoatDataError('ACTION_UNKNOWN', `the off-boat node does not know the action ${JSON.stringify(msg.action ?? msg.topic ?? '')}; use one of ${ACTIONS.join(', ')}`, 400);
            }
            const params: Record<string, any> = typeof msg.payload === 'object' && msg.payload !== null && !Buffer.isBuffer(msg.payload) ? msg.payload : {};
            switch (action) {
                case 'recovery-key': {
                    // The one answer that holds the key: it is not logged and not kept; the node status shows only the date.
                    const made = await makeRecoveryKey(root);
                    status.ok(node, RED._('offboat.status.recovery', { when: made.created_at.slice(0, 10) }));
                    msg.payload = {
                        success: true,
                        recovery_key: made.recovery_key,
                        recipient: made.recipient,
                        created_at: made.created_at,
                        ...(await recoverySheet(made.recovery_key)),
                        message:
                            'Keep this recovery key ashore (print it, or write it down): it opens every backup made from now on, and it is not shown again. Backups made before keep the key they were made with.',
                    };
                    break;
                }
                case 'recovery-key-check': {
                    // The key is used for this answer only: not kept, not logged, not in the answer.
                    const key = params.recovery_key;
                    delete params.recovery_key;
                    msg.payload = await inFlight.track(checkRecoveryKey({ backupDir: backupDir(), recoveryKey: key, central: await centralVault() }));
                    break;
                }
                case 'offboat': {
                    const mode = parseOffboatMode(params.mode);
                    await updateOffboatState(root, (s) => {
                        s.mode = mode;
                        if (mode === 'off') s.pending = null;
                    });
                    if (mode !== 'off' && !(await recoveryRecipient(root))) {
                        msg.payload = { ...(await describe()), warning: 'no recovery key yet: backups are not encrypted, and only encrypted backups leave the boat. Make a recovery key first.' };
                        break;
                    }
                    msg.payload = await describe();
                    break;
                }
                case 'send': {
                    const name = typeof params.name === 'string' ? path.basename(params.name) : undefined;
                    const queued = await worker.queueNewest(name);
                    if (!queued) throw new BoatDataError('OFFBOAT_NOTHING', 'there is no encrypted backup to send; make a recovery key, then a backup', 404);
                    round();
                    msg.payload = { ...(await describe()), queued };
                    break;
                }
                case 'status':
                    msg.payload = await describe();
                    break;
                case 'recover': {
                    // A new SD card: the newest central copy into the backup folder, checked; the backup node restores it
                    // (second output) with the recovery key, which goes no further than that restore.
                    const key = typeof params.recovery_key === 'string' ? params.recovery_key.trim() : '';
                    if (!isIdentityText(key))
                        throw new BoatDataError('RECOVERY_KEY_INVALID', 'the recovery key is the line starting AGE-SECRET-KEY-1 on the sheet kept ashore; check it was typed or scanned whole', 400);
                    const token = String(params.device_token ?? '').trim() || boat.deviceToken() || '';
                    status.working(node, RED._('offboat.status.downloading'));
                    const copy = await inFlight.track(
                        downloadCentralCopy({
                            centralUrl: boat.centralUrl(),
                            installationId: String(params.installation_id ?? ''),
                            token,
                            backupDir: backupDir(),
                            name: typeof params.name === 'string' ? params.name : undefined,
                        }),
                    );
                    // Made by this boat, or removed and refused here, before the key is kept or the restore asked.
                    await checkDownloadedCopy({ layout: { ...layout, backupDir: backupDir() }, requireMountedDrive: false }, copy.name, key);
                    await keepRecoveryRecipient(root, key);
                    status.ok(node, RED._('offboat.status.downloaded', { name: copy.name.slice(13, 28) }));
                    msg.action = 'restore';
                    msg.payload = { name: copy.name, keep_installation_id: false, recovery_key: key };
                    send([null, msg]);
                    return;
                }
            }
            send([msg, null]);
        });

        node.on('close', (done: () => void) => {
            closing = true;
            clearInterval(timer);
            stopLinkListener();
            weekly.stop();
            void worker
                .stop()
                .then(() => inFlight.settled())
                .then(() => done());
        });
    }

    RED.nodes.registerType('d3kos-offboat', OffboatNode);
};
