import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError } from '../errors';
import { prepareBackupDir } from './drive';
import { inspectArchive } from './inspect';
import { withBackupLock } from './lock';
import { resolveBackupFile, sidecarOf } from './names';
import { BackupSettings, resolveSettings } from './options';
import { backupsIn, pruneBackups } from './retention';

export interface ListedBackup {
    name: string;
    /** The name again, for pages written against the original API. */
    file: string;
    size: number;
    /** When the backup was made (UTC, from its name). */
    created: string;
    has_checksum: boolean;
    pre_restore: boolean;
}

/** Backups in the backup folder, newest first. */
export async function listBackups(settings: BackupSettings): Promise<{ success: true; count: number; backups: ListedBackup[] }> {
    const s = resolveSettings(settings);
    const dir = s.layout.backupDir;
    await prepareBackupDir(dir, s.requireMountedDrive, false);
    const backups: ListedBackup[] = [];
    for (const b of (await backupsIn(dir)).reverse()) {
        const file = path.join(dir, b.name);
        const stat = await fs.stat(file).catch(() => null);
        if (!stat?.isFile()) continue;
        const hasChecksum = await fs.stat(sidecarOf(file)).then((st) => st.isFile(), () => false);
        backups.push({ name: b.name, file: b.name, size: stat.size, created: b.created.toISOString(), has_checksum: hasChecksum, pre_restore: b.preRestore });
    }
    return { success: true, count: backups.length, backups };
}

/** Checks a backup end to end (checksum file, every entry, every file hash) without writing anything. */
export async function verifyBackup(settings: BackupSettings, requested: unknown) {
    const s = resolveSettings(settings);
    await prepareBackupDir(s.layout.backupDir, s.requireMountedDrive, false);
    const { name, file } = resolveBackupFile(s.layout.backupDir, requested);
    const stat = await fs.stat(file).catch(() => null);
    if (!stat?.isFile()) throw new BoatDataError('BACKUP_NOT_FOUND', `backup ${name} was not found in ${s.layout.backupDir}`, 404);
    const { manifest, sha256 } = await inspectArchive(file, name);
    return {
        success: true as const,
        valid: true as const,
        name,
        sha256,
        size: stat.size,
        created: manifest.timestamp,
        installation_id: manifest.installation_id,
        tier: manifest.tier,
        d3kos_version: manifest.d3kos_version,
        files_checked: manifest.files.length,
        items: manifest.items,
    };
}

/** Keeps the newest N backups (the configured number unless `keep` is given). */
export async function pruneOldBackups(settings: BackupSettings, keep?: number) {
    const s = resolveSettings(keep === undefined ? settings : { ...settings, keep });
    await prepareBackupDir(s.layout.backupDir, s.requireMountedDrive, false);
    const removed = await withBackupLock(s.layout.backupDir, () => pruneBackups(s.layout.backupDir, s.keep, s.now()));
    return { success: true as const, keep: s.keep, removed, count: removed.length };
}

/** The archive file behind a download, after the same name checks as every other action. */
export async function backupForDownload(settings: BackupSettings, requested: unknown): Promise<{ name: string; file: string; size: number }> {
    const s = resolveSettings(settings);
    await prepareBackupDir(s.layout.backupDir, s.requireMountedDrive, false);
    const { name, file } = resolveBackupFile(s.layout.backupDir, requested);
    const stat = await fs.lstat(file).catch(() => null);
    if (!stat?.isFile()) throw new BoatDataError('BACKUP_NOT_FOUND', `backup ${name} was not found in ${s.layout.backupDir}`, 404);
    return { name, file, size: stat.size };
}
