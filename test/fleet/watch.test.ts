import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import type { BoatContact } from '../../lib/fleet/fleet-store';
import { emptyWatchState, FleetAlert, judgeFleet, WatchSettings, WatchState } from '../../lib/fleet/watch';
import { checkFleet, forgetWatchedBoat, THRESHOLDS_FILE, WATCH_STATE_FILE } from '../../lib/fleet/watch-files';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { forEachStore } from '../ingest/stores';
import { boatId, hoursAgo, seedImport } from './seed';

const HOUR = 3600000;
const start = new Date('2026-12-01T00:00:00.000Z');
const at = (hours: number) => new Date(start.getTime() + hours * HOUR);
const settings = (steadyHours = 24, thresholds = new Map<string, number | null>()): WatchSettings => ({ thresholdMs: 1 * HOUR, thresholds, steadyMs: steadyHours * HOUR });

/** Runs the watch every 15 minutes from hour `from` to hour `to`, the boat last heard from as `contactAt` says. */
function run(id: string, contactAt: (hours: number) => number, from: number, to: number, watch: WatchSettings, state: WatchState = emptyWatchState()) {
    const alerts: Array<FleetAlert & { at: number }> = [];
    for (let h = from; h <= to; h += 0.25) {
        const contact: BoatContact = { installation_id: id, last_import_at: at(contactAt(h)).toISOString(), backlog: { exports: 2, bytes: 2048, reported_at: at(contactAt(h)).toISOString() } };
        const judged = judgeFleet([contact], state, at(h), watch);
        state = judged.state;
        alerts.push(...judged.alerts.map((a) => ({ ...a, at: h })));
    }
    return { alerts, state };
}

describe('fleet watch: silent and back, with hysteresis (a clock the test controls)', () => {
    const id = '0123456789abcdef';

    it('gives one silent alert past the threshold and one back when the boat reports again, naming the boat, its last contact and backlog', () => {
        // Heard from at hour 0, then silent until hour 5.
        const { alerts } = run(id, (h) => (h < 5 ? 0 : 5), 0, 8, settings());
        assert.deepEqual(
            alerts.map((a) => [a.event, a.at]),
            [
                ['silent', 1.25],
                ['back', 5],
            ],
        );
        const [silent, back] = alerts;
        assert.equal(silent.installation_id, id);
        assert.equal(silent.last_contact_at, at(0).toISOString());
        assert.deepEqual(silent.backlog, { exports: 2, bytes: 2048, reported_at: at(0).toISOString() });
        assert.match(silent.text, new RegExp(`Boat ${id} has been silent for 1.3 h .*last contact 2026-12-01 00:00 UTC; it last reported 2 exports \\(2 kB\\) waiting`));
        assert.equal(back.silent_hours, 5);
        assert.match(back.text, /reports again after 5 h of silence/);
    });

    it('a link that drops every hour for a day gives one silent/back pair, where no hysteresis gives a storm', () => {
        // Each report is followed by 1.5 h of silence: past the 1 h threshold every time.
        const flapping = (h: number) => Math.floor(h / 1.5) * 1.5;
        const calm = run(id, flapping, 0, 24, settings(24)).alerts;
        assert.deepEqual(
            calm.map((a) => a.event),
            ['silent', 'back'],
        );
        const storm = run(id, flapping, 0, 24, settings(0)).alerts;
        assert.ok(storm.length >= 20, `without a steady time the same link gives ${storm.length} alerts`);
    });

    it('a boat back only briefly and gone again is announced silent once it has been back for the steady time', () => {
        // Back at hour 3 for one report, then nothing.
        const { alerts } = run(id, (h) => (h < 3 ? 0 : 3), 0, 40, settings(24));
        assert.deepEqual(
            alerts.map((a) => [a.event, a.at]),
            [
                ['silent', 1.25],
                ['back', 3],
                ['silent', 27],
            ],
        );
    });

    it("a boat's own threshold replaces the fleet's, and null never alerts", () => {
        const own = new Map<string, number | null>([[id, 10 * HOUR]]);
        assert.deepEqual(
            run(id, () => 0, 0, 12, settings(24, own)).alerts.map((a) => [a.event, a.at]),
            [['silent', 10.25]],
        );
        assert.deepEqual(run(id, () => 0, 0, 48, settings(24, new Map([[id, null]]))).alerts, []);
    });
});

forEachStore('fleet watch on the store: state kept across restarts', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let database: string;
    let store: IngestStore;
    const now = new Date('2026-12-07T12:00:00.000Z');
    const options = () => ({ dataDir: scratch.dir, thresholdHours: 48, steadyHours: 24 });

    beforeEach(async () => {
        scratch = scratchFolder('fleet-watch');
        database = await kind.freshDatabase();
        store = await kind.open(scratch.dir, database);
    });

    afterEach(async () => {
        await store.close();
        scratch.remove();
    });

    it('alerts a boat once, not again after a restart, and says back when it imports again', async () => {
        const silent = boatId('a');
        const reporting = boatId('b');
        await seedImport(store, { installation_id: silent, imported_at: hoursAgo(now, 240) });
        await seedImport(store, { installation_id: reporting, imported_at: hoursAgo(now, 1) });
        await store.recordBacklog(silent, { exports: 3, bytes: 12345 }, hoursAgo(now, 240));

        const first = await checkFleet(store, options(), now);
        assert.deepEqual(
            first.alerts.map((a) => [a.event, a.installation_id]),
            [['silent', silent]],
        );
        assert.equal(first.alerts[0].backlog?.exports, 3);
        assert.match(first.alerts[0].text, /silent for 10 days/);

        // Node-RED restarts: a new store on the same database and folder.
        await store.close();
        store = await kind.open(scratch.dir, database);
        assert.deepEqual((await checkFleet(store, options(), new Date(now.getTime() + HOUR))).alerts, []);
        const stateFile = path.join(scratch.dir, WATCH_STATE_FILE);
        assert.equal(JSON.parse(fs.readFileSync(stateFile, 'utf8')).boats[silent].state, 'silent');

        await seedImport(store, { installation_id: silent, imported_at: new Date(now.getTime() + 2 * HOUR).toISOString() });
        const back = await checkFleet(store, options(), new Date(now.getTime() + 2.5 * HOUR));
        assert.deepEqual(
            back.alerts.map((a) => [a.event, a.installation_id]),
            [['back', silent]],
        );

        // An erased boat is forgotten by the watch at once: its id is in no file of the ingest folder.
        assert.equal(await forgetWatchedBoat(scratch.dir, silent), true);
        assert.ok(!fs.readFileSync(stateFile, 'utf8').includes(silent));
        assert.equal(await forgetWatchedBoat(scratch.dir, silent), false);
    });

    it('a thresholds file it cannot read stops the check with its name, and keeps the state as it was', async () => {
        await seedImport(store, { installation_id: boatId(), imported_at: hoursAgo(now, 240) });
        fs.writeFileSync(path.join(scratch.dir, THRESHOLDS_FILE), '{"not a boat": 5}');
        await assert.rejects(checkFleet(store, options(), now), /silence-thresholds.json in the ingest folder "not a boat" is not an installation_id/);
        assert.equal(fs.existsSync(path.join(scratch.dir, WATCH_STATE_FILE)), false);
    });
});
