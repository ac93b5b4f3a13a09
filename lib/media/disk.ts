import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode } from '../errors';

/** How full a file system is, as `df` shows it. */
export interface DiskUsage {
    total_bytes: number;
    used_bytes: number;
    /** What an ordinary program can still write (blocks reserved for root excluded). */
    free_bytes: number;
    /** Used / (used + free), as `df` reports it: what the boat owner sees. */
    used_percent: number;
}

/** The usage of the file system `dir` lives on (statfs: no walk, cheap enough to ask every few minutes). */
export async function diskUsage(dir: string): Promise<DiskUsage> {
    const stats = await fs.statfs(dir);
    const total = stats.blocks * stats.bsize;
    const used = (stats.blocks - stats.bfree) * stats.bsize;
    const free = stats.bavail * stats.bsize;
    return { total_bytes: total, used_bytes: used, free_bytes: free, used_percent: percentOf(used, free) };
}

export function percentOf(used: number, free: number): number {
    return used + free > 0 ? (used / (used + free)) * 100 : 0;
}

/** One decimal, for answers; decisions use the unrounded figure. */
export function roundPercent(percent: number): number {
    return Math.round(percent * 10) / 10;
}

/**
 * The disk a media folder is on, or would be on: a folder not created yet
 * (no camera has recorded) is measured on its nearest existing parent, since
 * that disk filling up stops the helm computer just the same.
 */
export async function diskUsageFor(mediaDir: string): Promise<{ usage: DiskUsage; measuredAt: string; exists: boolean }> {
    let dir = path.resolve(mediaDir);
    let exists = true;
    for (;;) {
        try {
            return { usage: await diskUsage(dir), measuredAt: dir, exists };
        } catch (err) {
            const parent = path.dirname(dir);
            if ((errorCode(err) !== 'ENOENT' && errorCode(err) !== 'ENOTDIR') || parent === dir) throw err;
            dir = parent;
            exists = false;
        }
    }
}
