import { constants as fsConstants, promises as fs } from 'fs';
import * as path from 'path';
import { errorCode, errorMessage } from '../errors';
import { withinLimit } from '../files/regular-file';

/** A disk with less free than this, or than 2 % of its size if that is smaller, cannot take the next export. */
export const LOW_SPACE_BYTES = 16 * 1024 * 1024;
const LOW_SPACE_SHARE = 0.02;
/** /health may be polled many times a second: the disk is asked at most this often. */
export const DISK_CHECK_EVERY_MS = 5000;
/** A disk that does not answer statfs in this time is itself the problem. */
const DISK_CHECK_LIMIT_MS = 2000;

interface Check {
    at: number;
    problems: string[];
    running: Promise<string[]> | null;
    runningSince: number;
}

const checks = new Map<string, Check>();

/**
 * What is wrong with the disk holding `dir` (full, read-only, not answering),
 * in words that name `dir` from `root`. Answers from the last check while it
 * is recent; never waits more than a moment on a disk that does not answer,
 * and never asks a second time while the first question is still out.
 */
export async function diskProblems(dir: string, root: string, now = Date.now()): Promise<string[]> {
    const shown = path.relative(root, dir) || dir;
    let check = checks.get(dir);
    if (!check) {
        check = { at: 0, problems: [], running: null, runningSince: 0 };
        checks.set(dir, check);
    }
    if (check.running) {
        const waited = now - check.runningSince;
        if (waited > DISK_CHECK_LIMIT_MS) return [`the disk holding ${shown} has not answered for ${Math.round(waited / 1000)} s (a hung drive or mount?)`];
    } else if (now - check.at >= DISK_CHECK_EVERY_MS) {
        const c = check;
        c.runningSince = now;
        c.running = inspect(dir, shown).then(
            (problems) => {
                c.problems = problems;
                c.at = Date.now();
                c.running = null;
                return problems;
            },
            (err) => {
                c.problems = [`the disk holding ${shown} could not be checked: ${errorMessage(err)}`];
                c.at = Date.now();
                c.running = null;
                return c.problems;
            },
        );
    } else {
        return check.problems;
    }
    const running = check.running!;
    return withinLimit(running, DISK_CHECK_LIMIT_MS, () => undefined).catch(() => [`the disk holding ${shown} does not answer (a hung drive or mount?)`]);
}

async function inspect(dir: string, shown: string): Promise<string[]> {
    // The exports folder appears with the first export: until then its parent stands for it.
    let target = dir;
    for (;;) {
        try {
            await fs.access(target);
            break;
        } catch (err) {
            if (errorCode(err) !== 'ENOENT' || path.dirname(target) === target) throw err;
            target = path.dirname(target);
        }
    }
    const problems: string[] = [];
    const stats = await fs.statfs(target);
    const free = stats.bavail * stats.bsize;
    const size = stats.blocks * stats.bsize;
    if (free < Math.min(LOW_SPACE_BYTES, size * LOW_SPACE_SHARE)) {
        problems.push(`the disk holding ${shown} is full (${Math.round(free / 1024)} KB free); exports cannot be written until space is freed`);
    }
    try {
        await fs.access(target, fsConstants.W_OK);
    } catch (err) {
        problems.push(`${shown} cannot be written (${errorCode(err) === 'EROFS' ? 'the disk is read-only' : (errorCode(err) ?? errorMessage(err))}); exports cannot be saved`);
    }
    return problems;
}
