import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const BLOCK = 4096;
export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A small real file system of its own (tmpfs), so a test can fill a disk
 * to an exact percentage without touching the machine's disk. Needs root;
 * a refused mount fails the test with the reason rather than skipping it.
 */
export function mountSmallDisk(label: string, megabytes = 8): { dir: string; unmount: () => void } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `d3kos-${label}-`));
    try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir], { stdio: 'pipe' });
    } catch (err) {
        fs.rmdirSync(dir);
        const reason = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
        throw new Error(`the media tests need a small tmpfs disk and the mount was refused (run them as root): ${reason}`);
    }
    return {
        dir,
        unmount: () => {
            execFileSync('umount', [dir]);
            fs.rmdirSync(dir);
        },
    };
}

/** Writes a file of whole blocks with the given age (its mtime is `ageMs` before `now`). */
export function writeRecording(file: string, blocks: number, ageMs: number, now = Date.now()): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.alloc(blocks * BLOCK, 1));
    const when = new Date(now - ageMs);
    fs.utimesSync(file, when, when);
}

export function usedPercent(dir: string): number {
    const s = fs.statfsSync(dir);
    return ((s.blocks - s.bfree) / (s.blocks - s.bfree + s.bavail)) * 100;
}

export function usedBlocks(dir: string): number {
    const s = fs.statfsSync(dir);
    return s.blocks - s.bfree;
}

/** Tops the disk up with a non-media file until exactly `percent` of its blocks are used (rounded up to a block). */
export function fillTo(dir: string, percent: number, fillerName = 'other-data.bin'): void {
    const s = fs.statfsSync(dir);
    const wanted = Math.ceil((s.blocks * percent) / 100);
    const missing = wanted - (s.blocks - s.bfree);
    if (missing < 0) throw new Error(`the disk is already above ${percent} %`);
    fs.writeFileSync(path.join(dir, fillerName), Buffer.alloc(missing * BLOCK, 2));
}
