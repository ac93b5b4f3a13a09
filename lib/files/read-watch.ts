import * as path from 'path';

/**
 * What this process knows, from memory alone, about boat files that would
 * not read: reads still hanging (a hung USB drive or mount) and files
 * refused or timed out recently. /health answers from here, so it never
 * waits on the very file that is stuck.
 */
const stuck = new Map<string, number>();
const refused = new Map<string, { reason: string; at: number }>();

/** How long a refused read stays worth telling: long enough for the owner to see it after the night's export. */
export const REFUSAL_REMEMBERED_MS = 24 * 60 * 60 * 1000;

/** A read of `file` outlived its limit; it counts as stuck until `work` settles. */
export function noteReadStuck(file: string, work: Promise<unknown>): void {
    const since = Date.now();
    stuck.set(file, since);
    const done = () => {
        if (stuck.get(file) === since) stuck.delete(file);
    };
    work.then(done, done);
}

/** When the read of `file` that is still hanging began, or undefined. */
export function stuckSince(file: string): number | undefined {
    return stuck.get(file);
}

/** The file was refused (not a regular file) or its read timed out; `reason` follows the file's name ("is a FIFO…"). */
export function noteReadRefused(file: string, reason: string, now = Date.now()): void {
    refused.set(file, { reason, at: now });
}

/** The file read fine: whatever was wrong with it is over. */
export function noteReadFinished(file: string): void {
    refused.delete(file);
}

export interface ReadProblem {
    file: string;
    problem: string;
    since: string;
}

/** The files under `root` (or any, without one) that are hanging now or were refused lately, in plain words. */
export function readProblems(root?: string, now = Date.now()): ReadProblem[] {
    const inside = (file: string) => {
        if (!root) return true;
        const relative = path.relative(root, file);
        return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
    };
    // Named from the data root, as the owner knows them (config/license.json), never by a full path.
    const shown = (file: string) => (root && inside(file) ? path.relative(root, file) : path.basename(file));
    const problems: ReadProblem[] = [];
    for (const [file, since] of stuck) {
        if (!inside(file)) continue;
        problems.push({ file, problem: `a read of ${shown(file)} has not finished for ${Math.round((now - since) / 1000)} s (a hung drive or mount?)`, since: new Date(since).toISOString() });
    }
    for (const [file, { reason, at }] of refused) {
        if (now - at > REFUSAL_REMEMBERED_MS) {
            refused.delete(file);
            continue;
        }
        if (!inside(file) || stuck.has(file)) continue;
        problems.push({ file, problem: `${shown(file)} ${reason}`, since: new Date(at).toISOString() });
    }
    return problems;
}
