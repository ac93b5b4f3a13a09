import * as path from 'path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { BoatDataError } from '../../lib/errors';
import { checkFleet, WatchOptions } from '../../lib/fleet/watch-files';
import { checkDatabaseSetting, useSharedStore } from '../../lib/ingest/store';
import { handleInput, status } from '../shared/adapter';
import { resolveEnv } from '../shared/boat-config';

interface FleetWatchDef extends NodeDef {
    dataDir: string;
    database?: string;
    thresholdHours: string | number;
    steadyHours: string | number;
    /** Minutes between checks; 0: only when a message arrives. */
    everyMinutes: string | number;
}

type Message = NodeMessage & Record<string, any>;

/** Checks the central store on a schedule (and on any message) and sends one message per silent or back boat. */
export = function (RED: NodeAPI): void {
    function FleetWatchNode(this: Node, def: FleetWatchDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        let options: WatchOptions | undefined;
        let shared: ReturnType<typeof useSharedStore> | undefined;
        let settingsError: Error | undefined;
        let everyMs = 0;
        try {
            const dataDir = resolveEnv(def.dataDir).trim() || path.join(RED.settings.userDir ?? '.', 'd3kos-ingest');
            options = { dataDir, thresholdHours: hours(def.thresholdHours, 'threshold', 48), steadyHours: hours(def.steadyHours, 'steady time', 24) };
            everyMs = minutes(def.everyMinutes) * 60000;
            shared = useSharedStore(dataDir, checkDatabaseSetting(resolveEnv(def.database ?? '')));
        } catch (err) {
            settingsError = err as Error;
            status.error(node, err);
        }

        // Checks take turns: a slow store never has two of them judge the same state.
        let turn: Promise<unknown> = Promise.resolve();
        const check = (now: Date, send: (msg: NodeMessage[]) => void): Promise<void> => {
            const run = turn.then(async () => {
                if (!options || !shared) throw settingsError;
                const { alerts, state } = await checkFleet(await shared.opening, options, now);
                const silent = Object.values(state.boats).filter((b) => b.state === 'silent').length;
                status.ok(node, RED._('fleet-watch.status.checked', { silent, time: now.toISOString().slice(11, 16) }));
                if (alerts.length > 0) send(alerts.map((alert) => ({ topic: alert.event, payload: alert })));
            });
            turn = run.catch(() => undefined);
            return run;
        };

        const timer = everyMs > 0 && options ? setInterval(() => scheduled(), everyMs) : undefined;
        const first = everyMs > 0 && options ? setTimeout(() => scheduled(), 1000) : undefined;
        function scheduled(): void {
            check(new Date(), (msgs) => node.send([msgs])).catch((err) => {
                status.error(node, err);
                node.error(err, { payload: { status: 'error', error: (err as Error).message } } as NodeMessage);
            });
        }

        handleInput(node, async (msg: Message, send) => {
            // msg.now: check as if it were then (a test's clock, or a replay).
            const now = msg.now === undefined ? new Date() : new Date(msg.now);
            if (Number.isNaN(now.getTime())) throw new BoatDataError('FLEET_WATCH_NOW', `msg.now ${JSON.stringify(msg.now)} is not a time (use ISO 8601, e.g. 2026-05-01T12:00:00Z)`, 400);
            await check(now, (msgs) => send([msgs]));
        });

        node.on('close', (_removed: boolean, done: () => void) => {
            clearInterval(timer);
            clearTimeout(first);
            turn.then(() => (shared ? shared.release() : undefined)).then(done, done);
        });
    }

    RED.nodes.registerType('d3kos-fleet-watch', FleetWatchNode);
};

function hours(setting: string | number | undefined, what: string, fallback: number): number {
    if (setting === undefined || setting === '') return fallback;
    const n = Number(resolveEnv(String(setting)));
    if (!Number.isFinite(n) || n <= 0 || n > 24 * 3650) throw new BoatDataError('FLEET_WATCH_SETTING', `the ${what} must be a number of hours above 0, not ${JSON.stringify(setting)}`, 500);
    return n;
}

function minutes(setting: string | number | undefined): number {
    if (setting === undefined || setting === '') return 15;
    const n = Number(resolveEnv(String(setting)));
    if (!Number.isFinite(n) || n < 0 || n > 24 * 60) throw new BoatDataError('FLEET_WATCH_SETTING', `the check interval must be 0 to 1440 minutes, not ${JSON.stringify(setting)}`, 500);
    return n;
}
