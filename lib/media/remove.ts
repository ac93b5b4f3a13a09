import * as fs from 'fs';
import * as path from 'path';
import { errorCode, errorMessage } from '../errors';
import { RECENT_MS } from './policy';
import type { MediaScan } from './scan';

export interface Removed {
    /** File numbers in the scan, in the order they were given (oldest first, for a cleanup that frees space). */
    removed: number[];
    freedBytes: number;
    /** Left alone at the last moment: changed in the last minute, no longer a plain file, or outside the media folder. */
    spared: number;
    failed: string[];
}

/** Deletions in flight at once: enough to keep the thread pool busy (fewer leave it waiting on each hand-over); each is tiny, so others queue briefly. */
const CONCURRENCY = 16;
/** A folder's real path is resolved again after this many of its files, so a folder swapped for a link is caught. */
const FOLDER_RECHECK = 32;

/**
 * Deletes the given recordings, each checked again just before it goes
 * (the scan may be seconds old): still a plain file (lstat), not written to
 * in the last minute, and its folder's real path still where the scan found
 * it inside the media folder (no folder on the way swapped for a link).
 * Stops taking new files once `signal` is aborted; files already being
 * deleted finish.
 */
export async function removeRecordings(scan: MediaScan, numbers: ArrayLike<number>, options: { now: () => number; signal?: AbortSignal }): Promise<Removed> {
    const result: Removed = { removed: [], freedBytes: 0, spared: 0, failed: [] };
    const folders = new Map<string, { inside: Promise<boolean>; uses: number }>();
    const folderStillInside = (folder: string): Promise<boolean> => {
        let known = folders.get(folder);
        if (!known || known.uses >= FOLDER_RECHECK) {
            known = {
                inside: fs.promises.realpath(folder).then(
                    (real) => real === folder,
                    () => false,
                ),
                uses: 0,
            };
            folders.set(folder, known);
        }
        known.uses++;
        return known.inside;
    };
    const gone = new Uint8Array(numbers.length);
    let next = 0;
    const worker = async () => {
        while (next < numbers.length && !options.signal?.aborted) {
            const position = next++;
            const i = numbers[position];
            const file = scan.files.paths[i];
            try {
                // A cached inode: lstat costs a microsecond or two here, where a thread-pool round trip costs far more.
                const stat = fs.lstatSync(file);
                const keep = !stat.isFile() || stat.mtimeMs > options.now() - RECENT_MS || !(await folderStillInside(path.dirname(file)));
                if (keep) {
                    result.spared++;
                    continue;
                }
                await fs.promises.unlink(file);
                gone[position] = 1;
                result.freedBytes += stat.size;
            } catch (err) {
                // Gone already (the camera software tidied it up): nothing to do, nothing to report.
                if (errorCode(err) !== 'ENOENT') result.failed.push(`${scan.files.name(i)}: ${errorMessage(err)}`);
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, numbers.length) }, worker));
    for (let position = 0; position < numbers.length; position++) if (gone[position]) result.removed.push(numbers[position]);
    return result;
}
