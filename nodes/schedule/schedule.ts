import type { Node, NodeAPI, NodeDef } from 'node-red';
import { boatConfig, status } from '../shared/adapter';
import { reportToCatch } from '../shared/report-to-catch';
import { errorMessage } from '../../lib/errors';
import { Schedule, ScheduleRun, scheduleStateFile } from '../../lib/schedule/schedule';
import { announceNextRun, formatRunTime } from '../../lib/status/next-runs';

interface ScheduleDef extends NodeDef {
    boat: string;
    cron: string;
    timeZone: string;
    catchUp: boolean | string;
    catchUpDelay: string | number;
    key: string;
    topic: string;
    payload: string;
}

export = function (RED: NodeAPI): void {
    function ScheduleNode(this: Node, def: ScheduleDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const cron = (def.cron || '0 3 * * *').trim();
        const timeZone = (def.timeZone || '').trim();
        const catchUp = def.catchUp !== false && def.catchUp !== 'false';
        const catchUpDelayMs = Math.max(0, Number(def.catchUpDelay ?? 30)) * 1000;
        let schedule: Schedule | null = null;
        let payload: unknown;
        let root = '';
        const key = def.key || 'daily-export';
        const starting = Promise.resolve().then(async () => {
            payload = def.payload ? JSON.parse(def.payload) : {};
            const layout = boatConfig(RED, node, def.boat).layout();
            root = layout.root;
            schedule = new Schedule(
                { cron, timeZone, catchUp, catchUpDelayMs, stateFile: scheduleStateFile(layout.root, key) },
                (run) => emit(run),
                (err) => node.warn(err.message),
            );
            const { next, catchUpDue } = await schedule.start();
            showNext(next, catchUpDue);
        });
        starting.catch((err) => {
            // A schedule that cannot start is loud: a red status and an error a Catch node sees.
            status.error(node, err);
            reportToCatch(node, err, def.topic || 'schedule');
        });

        function showNext(next: Date, catchUpDue = false) {
            // The status answers (GET /tier/status) tell the next run too.
            announceNextRun(root, key, next);
            const text = RED._(catchUpDue ? 'schedule.status.catchingUp' : 'schedule.status.next', { next: formatRunTime(next, timeZone) });
            (catchUpDue ? status.working : status.ok)(node, text);
        }

        function emit(run: ScheduleRun, manual = false) {
            node.send({ topic: def.topic || 'schedule', payload: RED.util.cloneMessage({ payload }).payload, schedule: { ...run, manual } } as any);
            if (schedule) showNext(schedule.next());
        }

        // Any message runs the job now (like an inject button) without changing what the schedule remembers.
        node.on('input', (_msg, _send, done) => {
            const now = new Date().toISOString();
            starting.then(
                () => {
                    emit({ scheduled_for: now, fired_at: now, catch_up: false, missed_count: 0 }, true);
                    done();
                },
                (err) => done(err instanceof Error ? err : new Error(String(err))),
            );
        });

        node.on('close', (done: () => void) => {
            starting
                .catch(() => undefined)
                .then(() => schedule?.stop())
                .then(() => root && announceNextRun(root, key, null))
                .catch((err) => node.warn(errorMessage(err)))
                .then(() => done());
        });
    }

    RED.nodes.registerType('d3kos-schedule', ScheduleNode);
};
