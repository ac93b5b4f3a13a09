import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode } from '../errors';
import { syncFolder } from '../files/atomic';
import { compareBackupNames, parseBackupName, sidecarOf, SIDECAR_SUFFIX, BackupName } from './names';

/** Leftovers of a backup interrupted by a power cut are this old before they are cleared. */
const STALE_MS = 12 * 60 * 60 * 1000;

export async function backupsIn(dir: string): Promise<BackupName[]> {
    let names: string[];
    try {
        names = await fs.readdir(dir);
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return [];
        throw err;
    }
    return names
        .map(parseBackupName)
        .filter((b): b is BackupName => b !== null)
        .sort(compareBackupNames);
}

/**
 * The safety backups a restore takes first have their own retention, apart
 * from keep-N: otherwise a few ordinary backups after a restore (the daily
 * one, a button pressed twice) would delete the only way to undo it. The
 * newest SAFETY_KEEP are always kept, and none is removed before it is
 * SAFETY_MIN_AGE_DAYS old: a bad restore is often noticed only when the
 * owner is back aboard weeks later. Restores are rare, so this costs little
 * room.
 */
export const SAFETY_KEEP = 3;
export const SAFETY_MIN_AGE_DAYS = 30;

/** Which backups a prune removes: beyond the newest `keep` ordinary ones, and safety backups past their own retention. */
export function backupsToPrune(all: BackupName[], keep: number, now: Date): BackupName[] {
    const ordinary = all.filter((b) => !b.preRestore);
    const safety = all.filter((b) => b.preRestore);
    const oldestKept = now.getTime() - SAFETY_MIN_AGE_DAYS * 24 * 60 * 60 * 1000;
    return [...ordinary.slice(0, Math.max(0, ordinary.length - keep)), ...safety.slice(0, Math.max(0, safety.length - SAFETY_KEEP)).filter((b) => b.created.getTime() < oldestKept)].sort(
        compareBackupNames,
    );
}

/**
 * Keeps the newest `keep` ordinary backups and the safety backups their own
 * retention keeps, removing the rest, each with its checksum file; also
 * clears checksum files whose archive is gone and half-made backups a power
 * cut left behind. Answers the names removed.
 */
export async function pruneBackups(dir: string, keep: number, now = new Date()): Promise<string[]> {
    const all = await backupsIn(dir);
    const removed: string[] = [];
    for (const old of backupsToPrune(all, keep, now)) {
        const archive = path.join(dir, old.name);
        await fs.rm(archive, { force: true });
        await fs.rm(sidecarOf(archive), { force: true });
        removed.push(old.name);
    }
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    const present = new Set(names);
    for (const name of names) {
        const orphanSidecar = name.endsWith(SIDECAR_SUFFIX) && parseBackupName(name.slice(0, -SIDECAR_SUFFIX.length)) && !present.has(name.slice(0, -SIDECAR_SUFFIX.length));
        const leftover = /^\.staging-d3kos_backup_/.test(name) || /^\.d3kos_backup_.*\.tmp$/.test(name);
        if (!orphanSidecar && !leftover) continue;
        const stat = await fs.stat(path.join(dir, name)).catch(() => null);
        if (stat && now.getTime() - stat.mtimeMs > STALE_MS) await fs.rm(path.join(dir, name), { recursive: true, force: true });
    }
    if (removed.length > 0) await syncFolder(dir);
    return removed;
}
