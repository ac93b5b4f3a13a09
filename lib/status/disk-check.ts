import { constants as fsConstants, promises as fs } from 'fs';
import * as path from 'path';
import { errorCode, errorMessage } from '../errors';
import { cachedCheck } from './cached-check';

/** A disk with less free than this, or than 2 % of its size if that is smaller, cannot take the next export. */
export const LOW_SPACE_BYTES = 16 * 1024 * 1024;
const LOW_SPACE_SHARE = 0.02;
/** /health may be polled many times a second: the disk is asked at most this often. */
export const DISK_CHECK_EVERY_MS = 5000;
/** A disk that does not answer in this time is itself the problem. */
const DISK_CHECK_LIMIT_MS = 2000;

/**
 * What is wrong with the disk holding `dir` (full, read-only, not answering),
 * in words that name `dir` from `root`. Answered from memory (see
 * CachedCheck): the disk is asked at most every few seconds, in the
 * background, and never a second time while the first question is out.
 */
export async function diskProblems(dir: string, root: string): Promise<string[]> {
    const shown = path.relative(root, dir) || dir;
    const answer = await cachedCheck(`disk:${dir}`, () => inspect(dir, shown), { freshMs: DISK_CHECK_EVERY_MS, staleMs: 30_000, waitMs: DISK_CHECK_LIMIT_MS }).get();
    if (answer.ok) return answer.value;
    if ('silentForMs' in answer) return [`the disk holding ${shown} has not answered for ${Math.round(answer.silentForMs / 1000)} s (a hung drive or mount?)`];
    return [`the disk holding ${shown} could not be checked: ${errorCode(answer.error) ?? errorMessage(answer.error)}`];
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
