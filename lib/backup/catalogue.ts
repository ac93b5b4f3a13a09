import { promises as fs } from 'fs';
import * as path from 'path';
import { prepareBackupDir } from './drive';
import { inspectArchive } from './inspect';
import { withBackupLock } from './lock';
import { backupIdentities, isEncryptedName } from './encryption';
import { resolveBackupFile, sidecarOf } from './names';
import { BackupSettings, resolveSettings } from './options';
import { backupsIn, pruneBackups, SAFETY_KEEP, SAFETY_MIN_AGE_DAYS } from './retention';
import { storedArchive } from './stored';
import { DrillResult, readDrills } from './drill-results';
import { backupTrust } from './authenticity';

export interface ListedBackup {
    name: string;
    size_bytes: number;
    /** When the backup was made (UTC, from its name). */
    created_at: string;
    has_checksum: boolean;
    /** The safety backup a restore took first: restore it to undo that restore. */
    pre_restore: boolean;
    /** Encrypted (`.tar.gz.age`): opens only with the boat's key or the owner's recovery key, and holds the secret files. */
    encrypted: boolean;
    /** `safety` for those (never pruned by keep-N; see `retention`), `backup` for the rest. */
    kind: 'safety' | 'backup';
    /** The last restore drill of this backup (drill.ts), or null when it was never drilled. */
    drill: DrillResult | null;
}

export interface BackupList {
    success: true;
    count: number;
    /** Newest first. */
    backups: ListedBackup[];
    /** The newest backup, whatever made it, or null when there is none. */
    last_backup: { name: string; created_at: string; size_bytes: number } | null;
    /** What a prune keeps: the newest `keep` backups, and safety backups by their own rule. */
    retention: { keep: number; safety_keep: number; safety_min_age_days: number };
    /** When the newest successful restore drill of a backup still here ran, or null. */
    newest_proven_at: string | null;
}

/** Backups in the backup folder, newest first. */
export async function listBackups(settings: BackupSettings): Promise<BackupList> {
    const s = resolveSettings(settings);
    const dir = s.layout.backupDir;
    await prepareBackupDir(dir, s.requireMountedDrive, false);
    const backups: ListedBackup[] = [];
    const drills = await readDrills(dir);
    for (const b of (await backupsIn(dir)).reverse()) {
        const file = path.join(dir, b.name);
        const stat = await fs.lstat(file).catch(() => null);
        if (!stat?.isFile()) continue;
        const hasChecksum = await fs.lstat(sidecarOf(file)).then(
            (st) => st.isFile(),
            () => false,
        );
        backups.push({
            name: b.name,
            size_bytes: stat.size,
            created_at: b.created.toISOString(),
            has_checksum: hasChecksum,
            pre_restore: b.preRestore,
            encrypted: b.encrypted,
            kind: b.preRestore ? 'safety' : 'backup',
            drill: drills[b.name] ?? null,
        });
    }
    const proven = backups.flatMap((b) => (b.drill?.status === 'proven' ? [b.drill.proven_at] : [])).sort();
    const newest = backups[0];
    const last_backup = newest ? { name: newest.name, created_at: newest.created_at, size_bytes: newest.size_bytes } : null;
    const retention = { keep: s.keep, safety_keep: SAFETY_KEEP, safety_min_age_days: SAFETY_MIN_AGE_DAYS };
    return { success: true, count: backups.length, backups, last_backup, retention, newest_proven_at: proven.pop() ?? null };
}

/** Checks a backup end to end (checksum file, every entry, its authenticator, every file hash) without writing anything. */
export async function verifyBackup(settings: BackupSettings, requested: unknown, options: { acceptUnauthenticated?: boolean } = {}) {
    const s = resolveSettings(settings);
    await prepareBackupDir(s.layout.backupDir, s.requireMountedDrive, false);
    const { name, file } = resolveBackupFile(s.layout.backupDir, requested);
    const stat = await storedArchive(s.layout.backupDir, name, file);
    const identities = isEncryptedName(name) ? await backupIdentities(s.layout.root, s.identities) : undefined;
    const trust = await backupTrust(s.layout.root, s.identities, options.acceptUnauthenticated === true);
    const { manifest, sha256, authenticity } = await inspectArchive(file, name, identities, trust);
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
        encrypted: identities !== undefined,
        authenticated: authenticity.authenticated,
        items: manifest.items,
    };
}

/** Keeps the newest N ordinary backups (the configured number unless `keep` is given); safety backups by their own rule. */
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
    const stat = await storedArchive(s.layout.backupDir, name, file);
    return { name, file, size: stat.size };
}
