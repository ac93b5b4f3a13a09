import { withinLimit } from '../files/regular-file';

export type CheckAnswer<T> = { ok: true; value: T } | { ok: false; error: unknown } | { ok: false; silentForMs: number };

/**
 * A check /health makes (read the license, ask the disk), kept in memory.
 * Each one costs a few trips through libuv's four threads, and during an
 * export those threads are busy with SQLite and the export file: asked on
 * every /health, a poll every 20 ms would wait in that queue for tens of
 * milliseconds each time. So an answer younger than `freshMs` is reused, an
 * older one is reused while a new check runs in the background (for up to
 * `staleMs`), and only with nothing usable does /health wait, for at most
 * `waitMs`. A check still out after that is reported as not answering, and
 * never asked a second time while the first is out.
 */
export class CachedCheck<T> {
    private last: { at: number; answer: CheckAnswer<T> } | null = null;
    private running: { since: number; done: Promise<void> } | null = null;

    constructor(
        private readonly check: () => Promise<T>,
        private readonly options: { freshMs: number; staleMs: number; waitMs: number },
    ) {}

    async get(now = Date.now()): Promise<CheckAnswer<T>> {
        const age = this.last ? now - this.last.at : Infinity;
        if (!this.running && age >= this.options.freshMs) this.start(now);
        if (this.last && age < this.options.staleMs) return this.last.answer;
        const running = this.running;
        if (!running) return this.last!.answer;
        const left = this.options.waitMs - (now - running.since);
        if (left > 0) {
            try {
                await withinLimit(running.done, left, () => undefined);
                return this.last!.answer;
            } catch {
                // Still out: told below.
            }
        }
        return { ok: false, silentForMs: Date.now() - running.since };
    }

    private start(now: number): void {
        const run = { since: now, done: Promise.resolve() };
        run.done = this.check().then(
            (value) => this.settle(run, { ok: true, value }),
            (error) => this.settle(run, { ok: false, error }),
        );
        this.running = run;
    }

    private settle(run: { since: number }, answer: CheckAnswer<T>): void {
        this.last = { at: Date.now(), answer };
        if (this.running === run) this.running = null;
    }
}

const checks = new Map<string, CachedCheck<unknown>>();

/** The one cached check of `key` in this process (one per boat file or folder). */
export function cachedCheck<T>(key: string, check: () => Promise<T>, options: { freshMs: number; staleMs: number; waitMs: number }): CachedCheck<T> {
    let found = checks.get(key) as CachedCheck<T> | undefined;
    if (!found) {
        found = new CachedCheck(check, options);
        checks.set(key, found as CachedCheck<unknown>);
    }
    return found;
}
