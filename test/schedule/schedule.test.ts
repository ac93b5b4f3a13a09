import assert from 'node:assert/strict';
import { promises as fs } from 'fs';
import * as path from 'path';
import { missedRuns, nextRun, parseSchedule, readScheduleState, Schedule, ScheduleRun, scheduleStateFile } from '../../lib/schedule/schedule';
import { BoatDataError } from '../../lib/errors';
import { scratchFolder, writeJson } from '../support/folders';

const DAILY = '0 3 * * *';

function until(check: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const timer = setInterval(() => {
            if (check()) {
                clearInterval(timer);
                resolve();
            } else if (Date.now() - started > ms) {
                clearInterval(timer);
                reject(new Error(`${what} did not happen within ${ms} ms`));
            }
        }, 10);
    });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('schedule times', () => {
    it('two 03:00 runs missed while the boat was off are found, the latest one named', () => {
        const missed = missedRuns(DAILY, 'UTC', new Date('2026-07-01T20:00:00Z'), new Date('2026-07-03T10:00:00Z'));
        assert.deepEqual(missed, { latest: new Date('2026-07-03T03:00:00Z'), count: 2 });
    });

    it('a mark from 1970 (a Pi that booted without the time) names the last real 03:00 at once', () => {
        const missed = missedRuns(DAILY, 'UTC', new Date(0), new Date('2026-07-03T10:00:00Z'));
        assert.deepEqual(missed?.latest, new Date('2026-07-03T03:00:00Z'));
        assert.ok(Math.abs(missed!.count - 20637) <= 1, `about 20,637 days were missed, counted ${missed!.count}`);
    });

    it('every-minute schedules missed for a month still name the last minute', () => {
        const missed = missedRuns('* * * * *', 'UTC', new Date('2026-06-03T10:00:30Z'), new Date('2026-07-03T10:00:30Z'));
        assert.deepEqual(missed?.latest, new Date('2026-07-03T10:00:00Z'));
        assert.ok(Math.abs(missed!.count - 30 * 24 * 60) <= 1, `counted ${missed!.count}`);
    });

    it('nothing is missed when the boat was off between two 03:00s', () => {
        assert.equal(missedRuns(DAILY, 'UTC', new Date('2026-07-03T03:30:00Z'), new Date('2026-07-03T23:59:00Z')), null);
    });

    it('03:00 is boat-local: in Halifax in summer it is 06:00 UTC', () => {
        assert.deepEqual(nextRun(DAILY, 'America/Halifax', new Date('2026-07-03T05:00:00Z')), new Date('2026-07-03T06:00:00Z'));
        assert.equal(missedRuns(DAILY, 'America/Halifax', new Date('2026-07-03T05:00:00Z'), new Date('2026-07-03T05:59:00Z')), null);
    });

    it('a wrong cron expression or time zone is an error that names it', () => {
        assert.throws(
            () => parseSchedule('0 27 * * *'),
            (err: BoatDataError) => err.code === 'SCHEDULE_INVALID' && /cron expression "0 27 \* \* \*"/.test(err.message),
        );
        assert.throws(
            () => parseSchedule(DAILY, 'Atlantis/Harbour'),
            (err: BoatDataError) => err.code === 'SCHEDULE_INVALID' && /time zone "Atlantis\/Harbour"/.test(err.message),
        );
    });

    it('a schedule key cannot name a file outside the schedules folder', () => {
        assert.equal(scheduleStateFile('/opt/d3kos', 'daily-export'), '/opt/d3kos/state/schedules/daily-export.json');
        assert.throws(() => scheduleStateFile('/opt/d3kos', '../license'), /schedule key/);
    });
});

describe('a schedule that remembers its runs', function () {
    let scratch: ReturnType<typeof scratchFolder>;
    let stateFile: string;
    let schedule: Schedule | undefined;
    let runs: ScheduleRun[];
    let problems: Error[];

    beforeEach(() => {
        scratch = scratchFolder('schedule');
        stateFile = path.join(scratch.dir, 'state', 'schedules', 'daily-export.json');
        runs = [];
        problems = [];
    });
    afterEach(async () => {
        await schedule?.stop();
        schedule = undefined;
        scratch.remove();
    });

    function make(options: Partial<ConstructorParameters<typeof Schedule>[0]> = {}): Schedule {
        schedule = new Schedule(
            { cron: DAILY, timeZone: 'UTC', stateFile, catchUp: true, catchUpDelayMs: 0, ...options },
            (run) => runs.push(run),
            (err) => problems.push(err),
        );
        return schedule;
    }

    async function state() {
        return JSON.parse(await fs.readFile(stateFile, 'utf8'));
    }

    it('on its first start it runs nothing and remembers that it has covered up to now', async () => {
        const before = Date.now();
        const { catchUpDue } = await make().start();
        await pause(50);
        assert.equal(catchUpDue, false);
        assert.deepEqual(runs, []);
        const saved = await state();
        assert.ok(Date.parse(saved.covered_until) >= before - 1000);
        assert.equal(saved.cron, DAILY);
    });

    it('a 03:00 missed while the boat was off runs once at the next start, then not again', async () => {
        const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000).toISOString();
        writeJson(stateFile, { version: 1, cron: DAILY, time_zone: 'UTC', covered_until: twoDaysAgo });
        const { catchUpDue } = await make().start();
        assert.equal(catchUpDue, true);
        await until(() => runs.length === 1, 5000, 'the catch-up run');
        assert.equal(runs[0].catch_up, true);
        assert.ok(runs[0].missed_count >= 2);
        assert.ok(Date.parse(runs[0].scheduled_for) <= Date.now());
        const saved = await state();
        assert.equal(saved.last_scheduled_for, runs[0].scheduled_for);
        await schedule!.stop();

        // Switched off and on again the same day: the run is remembered.
        runs = [];
        await make().start();
        await pause(100);
        assert.deepEqual(runs, []);
    });

    it('waits the catch-up delay before the missed run, so the rest of the flow is up', async () => {
        writeJson(stateFile, { version: 1, cron: DAILY, time_zone: 'UTC', covered_until: new Date(Date.now() - 3 * 24 * 3600 * 1000).toISOString() });
        await make({ catchUpDelayMs: 400 }).start();
        await pause(100);
        assert.equal(runs.length, 0);
        await until(() => runs.length === 1, 5000, 'the delayed catch-up run');
    });

    it('with catch-up off, a missed run is skipped and the schedule counts from now', async () => {
        writeJson(stateFile, { version: 1, cron: DAILY, time_zone: 'UTC', covered_until: new Date(Date.now() - 2 * 24 * 3600 * 1000).toISOString() });
        await make({ catchUp: false }).start();
        await pause(100);
        assert.deepEqual(runs, []);
        assert.ok(Date.now() - Date.parse((await state()).covered_until) < 60000);
    });

    it('the timer fires at the scheduled time and records the run', async function () {
        this.timeout(10000);
        await make({ cron: '* * * * * *' }).start();
        await until(() => runs.length >= 1, 5000, 'a tick of an every-second schedule');
        assert.equal(runs[0].catch_up, false);
        assert.equal(runs[0].missed_count, 1);
        await schedule!.stop();
        const saved = await state();
        assert.equal(saved.last_scheduled_for, runs[runs.length - 1].scheduled_for);
    });

    it('after stop no run happens', async function () {
        this.timeout(10000);
        await make({ cron: '* * * * * *' }).start();
        await schedule!.stop();
        await pause(2200);
        assert.deepEqual(runs, []);
    });

    it('a clock that jumps forward past 03:00 (a Pi learning the time) triggers the missed run', async () => {
        let now = new Date('2026-07-01T20:00:00Z');
        await make({ now: () => now, recheckMs: 20 }).start();
        await pause(60);
        assert.deepEqual(runs, []);
        now = new Date('2026-07-03T08:00:00Z');
        await until(() => runs.length === 1, 5000, 'the run after the clock jump');
        assert.deepEqual(runs[0], { scheduled_for: '2026-07-03T03:00:00.000Z', fired_at: '2026-07-03T08:00:00.000Z', catch_up: true, missed_count: 2 });
        await pause(100);
        assert.equal(runs.length, 1);
    });

    it('a clock behind the remembered time (booted with an old clock) is trusted and reported, never a silent stall', async () => {
        writeJson(stateFile, { version: 1, cron: DAILY, time_zone: 'UTC', covered_until: '2030-01-01T00:00:00Z' });
        await make().start();
        assert.ok(problems.some((p) => /later than the clock/.test(p.message)));
        assert.ok(Date.parse((await state()).covered_until) < Date.parse('2030-01-01T00:00:00Z'));
    });

    it('an unreadable state file is moved aside and reported, and the schedule still starts', async () => {
        await fs.mkdir(path.dirname(stateFile), { recursive: true });
        await fs.writeFile(stateFile, '{"covered_until": "2026-07-0');
        await make().start();
        assert.ok(problems.some((p) => /unreadable/.test(p.message)));
        const names = await fs.readdir(path.dirname(stateFile));
        assert.ok(
            names.some((n) => n.startsWith('daily-export.json.unreadable-')),
            `nothing was moved aside: ${names}`,
        );
        assert.ok((await state()).covered_until);
        assert.equal(await readScheduleState(path.join(scratch.dir, 'nothing.json')), null);
    });

    it('a state folder it cannot write to is reported, and the timer still runs', async function () {
        this.timeout(10000);
        // A file where the folder should be: every write fails, as on a read-only or broken disk.
        await fs.writeFile(path.join(scratch.dir, 'state'), 'not a folder');
        await make({ cron: '* * * * * *' }).start();
        assert.ok(problems.some((p) => /could not remember its last run/.test(p.message)));
        await until(() => runs.length >= 1, 5000, 'a tick with an unwritable state');
    });
});
