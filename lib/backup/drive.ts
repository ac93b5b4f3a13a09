import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode, errorMessage } from '../errors';

/** Folders where removable drives are mounted on a Debian Pi. */
const REMOVABLE_ROOTS = ['/media/', '/mnt/', '/run/media/'];

export function looksRemovable(dir: string): boolean {
    const resolved = path.resolve(dir) + '/';
    return REMOVABLE_ROOTS.some((root) => resolved.startsWith(root));
}

/** The folder to name when the drive is missing: /media/usb for /media/usb/backups. */
export function driveLabel(dir: string): string {
    const resolved = path.resolve(dir);
    for (const root of REMOVABLE_ROOTS) {
        if (resolved.startsWith(root)) {
            const rest = resolved.slice(root.length).split('/');
            // /run/media/<user>/<drive>
            const depth = root === '/run/media/' ? 2 : 1;
            return root + rest.slice(0, depth).join('/');
        }
    }
    return resolved;
}

/**
 * Makes sure the backup folder can take a backup. A folder meant to be on a
 * removable drive must be on a different file system than the system disk:
 * otherwise the drive is not mounted, and writing there would silently fill
 * the SD card (the empty mount point is still a folder).
 */
export async function prepareBackupDir(dir: string, requireMountedDrive: boolean, create = true): Promise<void> {
    if (requireMountedDrive) {
        const existing = await nearestExisting(dir);
        const [system, here] = await Promise.all([fs.stat('/'), fs.stat(existing)]);
        if (system.dev === here.dev) {
            throw new BoatDataError('BACKUP_DRIVE_MISSING', `the backup drive ${driveLabel(dir)} is not mounted; plug it in (or choose another backup folder) and try again`, 503);
        }
    }
    if (!create) return;
    try {
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
        if (isDiskFull(err)) throw driveFull(dir);
        throw new BoatDataError('BACKUP_DIR_UNUSABLE', `the backup folder ${dir} cannot be created: ${errorMessage(err)}`, 500);
    }
    const stat = await fs.stat(dir);
    if (!stat.isDirectory()) throw new BoatDataError('BACKUP_DIR_UNUSABLE', `the backup folder ${dir} is a file, not a folder`, 500);
}

async function nearestExisting(dir: string): Promise<string> {
    let current = path.resolve(dir);
    for (;;) {
        try {
            await fs.stat(current);
            return current;
        } catch (err) {
            if (errorCode(err) !== 'ENOENT' && errorCode(err) !== 'ENOTDIR') throw err;
            const parent = path.dirname(current);
            if (parent === current) return current;
            current = parent;
        }
    }
}

/** ENOSPC from the file system, SQLITE_FULL from SQLite, EDQUOT from a quota: all mean "no room". */
export function isDiskFull(err: unknown): boolean {
    const code = errorCode(err);
    return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || /database or disk is full|no space left/i.test(errorMessage(err));
}

export function driveFull(dir: string): BoatDataError {
    return new BoatDataError('BACKUP_DRIVE_FULL', `the backup drive is full (${dir}); no backup was written. Delete old backups or use a bigger drive`, 507);
}

/** Room kept free on the data disk beyond what restored files need. */
const FREE_SPACE_MARGIN = 16 * 1024 * 1024;

/** Refuses work that would fill the boat's data disk (`what` needs `needed` bytes there), before anything is written. */
export async function checkDataDiskRoom(root: string, needed: number, what: string, outcome: string): Promise<void> {
    let free: number;
    try {
        const stat = await fs.statfs(root);
        free = stat.bavail * stat.bsize;
    } catch {
        return;
    }
    if (free < needed + FREE_SPACE_MARGIN) {
        const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
        throw new BoatDataError('DISK_FULL', `the boat's data disk (${root}) has ${mb(free)} free but ${what} needs ${mb(needed + FREE_SPACE_MARGIN)}; ${outcome}`, 507);
    }
}
