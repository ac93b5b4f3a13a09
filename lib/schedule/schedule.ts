import { promises as fs } from 'fs';
import * as path from 'path';
import { CronJob, CronTime } from 'cron';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { writeJsonAtomic } from '../files/atomic';

/**
 * A cron schedule that remembers, in a file, up to when it has done its
 * work: a run missed while the boat was switched off (or while its clock
 * was wrong, as a Pi's is until it learns the time) happens at the next
 * chance instead of being lost.
 */
export interface ScheduleOptions {
    /** Cron expression, five fields (minute first) or six (seconds first). */
    cron: string;
    /** IANA time zone; empty for the boat's local time. */
    timeZone?: string;
    /** Where the schedule remembers what it has covered. */
    stateFile: string;
    /** Run once at start (and whenever the clock jumps) when a scheduled time was missed. */
    catchUp: boolean;
    /** Wait this long after start before a catch-up run, so the rest of the flow is up. */
    catchUpDelayMs?: number;
    /** How often to look for a run missed by a clock jump; 60 s unless told otherwise. */
    recheckMs?: number;
    /** The clock, for tests. */
    now?: () => Date;
}

export interface ScheduleRun {
    /** The scheduled time this run is for (the latest one missed, for a catch-up). */
    scheduled_for: string;
    fired_at: string;
    catch_up: boolean;
    /** Scheduled times this run stands in for (1 unless runs were missed). */
    missed_count: number;
}

/** What the state file holds. */
export interface ScheduleState {
    version: 1;
    cron: string;
    time_zone: string;
    /** Every scheduled time up to this instant has been run (or deliberately skipped). */
    covered_until: string;
    last_run_at?: string;
    last_scheduled_for?: string;
}

/** Missed runs stepped through one by one before the count is estimated instead. */
const MAX_STEPPED_MISSES = 400;
/** How many of the latest periods are still stepped through when the count is estimated. */
const STEPPED_PERIODS = 10;
/** A run this late is a catch-up, not the timer's own tick. */
const LATE_MS = 60000;

/** The parsed schedule, or a clear error naming what is wrong with the expression or the zone. */
export function parseSchedule(cron: string, timeZone?: string): CronTime {
    const zone = timeZone?.trim() || undefined;
    try {
        return new CronTime(cron.trim(), zone);
    } catch (err) {
        const what = /timezone/i.test(errorMessage(err)) ? `time zone "${timeZone}"` : `cron expression "${cron}"`;
        throw new BoatDataError('SCHEDULE_INVALID', `the schedule's ${what} is not valid: ${errorMessage(err)}`, 400);
    }
}

/** The next scheduled time strictly after `from`. */
export function nextRun(cron: string, timeZone: string | undefined, from: Date): Date {
    return parseSchedule(cron, timeZone)
        .getNextDateFrom(from, timeZone?.trim() || undefined)
        .toJSDate();
}

/**
 * The scheduled times in (coveredUntil, now]: the latest of them and how many there were. A mark far in the
 * past (a Pi that booted in 1970, then learned the time) would mean stepping through every missed run on the
 * event loop: past a few hundred, the count is estimated from the schedule's period and only the last few
 * periods are stepped through, so the latest run is still exact.
 */
export function missedRuns(cron: string, timeZone: string | undefined, coveredUntil: Date, now: Date): { latest: Date; count: number } | null {
    const time = parseSchedule(cron, timeZone);
    const zone = timeZone?.trim() || undefined;
    const after = (from: Date) => time.getNextDateFrom(from, zone).toJSDate();
    let next = after(coveredUntil);
    if (next > now) return null;
    let count = 0;
    const period = after(next).getTime() - next.getTime();
    if (period > 0 && (now.getTime() - next.getTime()) / period > MAX_STEPPED_MISSES) {
        const resumeFrom = new Date(now.getTime() - STEPPED_PERIODS * period);
        count = Math.max(0, Math.round((resumeFrom.getTime() - next.getTime()) / period));
        next = after(resumeFrom);
    }
    let latest = next;
    while (next <= now) {
        latest = next;
        count++;
        next = after(next);
    }
    return { latest, count: Math.max(count, 1) };
}

/** The state file for a schedule key under the boat's data root. */
export function scheduleStateFile(root: string, key: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(key)) {
        throw new BoatDataError('SCHEDULE_KEY_INVALID', `schedule key "${key}" must be letters, digits, - or _ (it names a file under ${root}/state/schedules)`, 400);
    }
    return path.join(root, 'state', 'schedules', `${key}.json`);
}

/**
 * Reads the state file. Missing: null. Unreadable or not a schedule state:
 * moved aside (never silently overwritten) and reported through `problem`.
 */
export async function readScheduleState(file: string, problem: (err: Error) => void = () => undefined): Promise<ScheduleState | null> {
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return null;
        throw new BoatDataError('SCHEDULE_STATE_UNREADABLE', `the schedule state ${file} could not be read: ${errorMessage(err)}`);
    }
    try {
        const state = JSON.parse(text);
        if (state && typeof state === 'object' && !Number.isNaN(Date.parse(state.covered_until))) return state as ScheduleState;
        throw new Error('it holds no covered_until time');
    } catch (err) {
        const aside = `${file}.unreadable-${Date.now()}`;
        await fs.rename(file, aside).catch(() => undefined);
        problem(new BoatDataError('SCHEDULE_STATE_CORRUPT', `the schedule state ${file} was unreadable (${errorMessage(err)}); moved it to ${path.basename(aside)} and started afresh`));
        return null;
    }
}

export class Schedule {
    private readonly options: Required<Omit<ScheduleOptions, 'timeZone'>> & { timeZone: string };
    private job: CronJob | null = null;
    private recheck: NodeJS.Timeout | null = null;
    private catchUpTimer: NodeJS.Timeout | null = null;
    private state: ScheduleState | null = null;
    /** Runs and state writes happen one at a time, in order. */
    private chain: Promise<void> = Promise.resolve();
    private stopped = false;

    constructor(
        options: ScheduleOptions,
        private readonly onRun: (run: ScheduleRun) => void,
        private readonly onProblem: (err: Error) => void = () => undefined,
    ) {
        this.options = {
            cron: options.cron.trim(),
            timeZone: options.timeZone?.trim() ?? '',
            stateFile: options.stateFile,
            catchUp: options.catchUp,
            catchUpDelayMs: options.catchUpDelayMs ?? 30000,
            recheckMs: options.recheckMs ?? 60000,
            now: options.now ?? (() => new Date()),
        };
        parseSchedule(this.options.cron, this.options.timeZone);
    }

    /** Loads the state, starts the timer, and arranges a catch-up run when one is due. */
    async start(): Promise<{ next: Date; catchUpDue: boolean }> {
        const now = this.options.now();
        let state = await readScheduleState(this.options.stateFile, this.onProblem).catch((err) => {
            this.onProblem(err);
            return null;
        });
        if (state && Date.parse(state.covered_until) > now.getTime() + 60000) {
            // The clock went backwards (a Pi without a clock battery boots with an old time): trust the clock.
            this.onProblem(new BoatDataError('SCHEDULE_CLOCK_BACKWARDS', `the schedule had covered up to ${state.covered_until}, later than the clock (${now.toISOString()}); counting from now`));
            state = null;
        }
        const catchUpDue = this.options.catchUp && state !== null && this.missed(state, now) !== null;
        if (!state || !this.options.catchUp) {
            // Nothing is known to have been missed: count from now.
            state = this.freshState(now, state);
            // A schedule that cannot write its memory still runs; it only loses the catch-up.
            await this.save(state).catch((err) => this.onProblem(err));
        }
        this.state = state;
        if (this.stopped) return { next: this.next(), catchUpDue: false };

        this.job = new CronJob(this.options.cron, () => this.enqueue(() => this.runDue()), null, false, this.options.timeZone || undefined);
        this.job.start();
        if (this.options.catchUp) {
            const watchTheClock = () => {
                if (!this.stopped) this.recheck = setInterval(() => this.enqueue(() => this.runDue()), this.options.recheckMs);
            };
            if (catchUpDue) {
                this.catchUpTimer = setTimeout(() => {
                    this.catchUpTimer = null;
                    this.enqueue(() => this.runDue());
                    watchTheClock();
                }, this.options.catchUpDelayMs);
            } else {
                watchTheClock();
            }
        }
        return { next: this.next(), catchUpDue };
    }

    /** The next scheduled time. */
    next(): Date {
        return nextRun(this.options.cron, this.options.timeZone, this.options.now());
    }

    lastRun(): { at?: string; scheduledFor?: string } {
        return { at: this.state?.last_run_at, scheduledFor: this.state?.last_scheduled_for };
    }

    /** Stops the timers and waits for a state write in progress. */
    async stop(): Promise<void> {
        this.stopped = true;
        if (this.catchUpTimer) clearTimeout(this.catchUpTimer);
        if (this.recheck) clearInterval(this.recheck);
        this.catchUpTimer = null;
        this.recheck = null;
        await this.job?.stop();
        this.job = null;
        await this.chain;
    }

    private enqueue(work: () => Promise<void>): void {
        this.chain = this.chain.then(work).catch((err) => this.onProblem(err instanceof Error ? err : new Error(String(err))));
    }

    private missed(state: ScheduleState, now: Date) {
        return missedRuns(this.options.cron, this.options.timeZone, new Date(state.covered_until), now);
    }

    /** Runs when a scheduled time in (covered_until, now] has not been run yet; remembers it first. */
    private async runDue(): Promise<void> {
        if (this.stopped || !this.state) return;
        // A timer can fire a few ms early; look half a second ahead so the tick itself counts.
        const now = this.options.now();
        const missed = this.missed(this.state, new Date(now.getTime() + 500));
        if (!missed) return;
        const isCatchUp = missed.count > 1 || now.getTime() - missed.latest.getTime() > LATE_MS;
        const covered = missed.latest > now ? missed.latest : now;
        const state: ScheduleState = {
            ...this.state,
            covered_until: covered.toISOString(),
            last_run_at: now.toISOString(),
            last_scheduled_for: missed.latest.toISOString(),
        };
        // Remembered before the run is sent: a run that crashes the boat at boot must not repeat at every boot.
        try {
            await this.save(state);
        } catch (err) {
            this.onProblem(err as Error);
        }
        this.state = state;
        if (this.stopped) return;
        this.onRun({ scheduled_for: missed.latest.toISOString(), fired_at: now.toISOString(), catch_up: isCatchUp, missed_count: missed.count });
    }

    private freshState(now: Date, previous: ScheduleState | null): ScheduleState {
        return {
            version: 1,
            cron: this.options.cron,
            time_zone: this.options.timeZone,
            covered_until: now.toISOString(),
            ...(previous?.last_run_at ? { last_run_at: previous.last_run_at } : {}),
            ...(previous?.last_scheduled_for ? { last_scheduled_for: previous.last_scheduled_for } : {}),
        };
    }

    private async save(state: ScheduleState): Promise<void> {
        try {
            await writeJsonAtomic(this.options.stateFile, { ...state, cron: this.options.cron, time_zone: this.options.timeZone });
        } catch (err) {
            throw new BoatDataError('SCHEDULE_STATE_UNWRITABLE', `the schedule could not remember its last run in ${this.options.stateFile}: ${errorMessage(err)}`);
        }
    }
}
