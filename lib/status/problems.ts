import * as path from 'path';

/**
 * Problems that stand until something clears them or their time runs out,
 * told by the parts that meet them (the queue found its file damaged, an
 * export has run far too long) and read by /health from memory. Each is
 * tied to a place on the boat, so /health of one boat hears only its own.
 */
interface Standing {
    where: string;
    text: string;
    since: number;
    until: number | null;
}

const standing = new Map<string, Standing>();

/** Raises (or restates) problem `key` at `where` (a file or folder of the boat); `forMs` makes it lapse on its own. */
export function raiseProblem(key: string, where: string, text: string, options: { forMs?: number; now?: number } = {}): void {
    const now = options.now ?? Date.now();
    const since = standing.get(key)?.since ?? now;
    standing.set(key, { where, text, since, until: options.forMs === undefined ? null : now + options.forMs });
}

export function clearProblem(key: string): void {
    standing.delete(key);
}

export interface StandingProblem {
    problem: string;
    since: string;
}

/** The problems standing at places under `root`. */
export function standingProblems(root: string, now = Date.now()): StandingProblem[] {
    const out: StandingProblem[] = [];
    for (const [key, p] of standing) {
        if (p.until !== null && p.until <= now) {
            standing.delete(key);
            continue;
        }
        const relative = path.relative(root, p.where);
        if (relative.startsWith('..') || path.isAbsolute(relative)) continue;
        out.push({ problem: p.text, since: new Date(p.since).toISOString() });
    }
    return out;
}

/** Work under way at a place of the boat, with the time it may take: /health tells of what runs past it. */
export interface TrackedWork {
    done(): void;
}

const works = new Map<number, { where: string; what: string; started: number; limitMs: number }>();
let nextWork = 1;

export function trackWork(where: string, what: string, limitMs: number, now = Date.now()): TrackedWork {
    const id = nextWork++;
    works.set(id, { where, what, started: now, limitMs });
    return { done: () => works.delete(id) };
}

export function overdueWork(root: string, now = Date.now()): StandingProblem[] {
    const out: StandingProblem[] = [];
    for (const w of works.values()) {
        if (now - w.started <= w.limitMs) continue;
        const relative = path.relative(root, w.where);
        if (relative.startsWith('..') || path.isAbsolute(relative)) continue;
        out.push({
            problem: `${w.what} has been running for ${Math.round((now - w.started) / 1000)} s, longer than its ${Math.round(w.limitMs / 1000)} s`,
            since: new Date(w.started).toISOString(),
        });
    }
    return out;
}
