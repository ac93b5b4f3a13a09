import * as path from 'path';
import { BoatDataError } from '../errors';

/**
 * Backup archive names: `d3kos_backup_<yyyymmdd_HHMMSS>[_<n>][_pre-restore].tar.gz`,
 * the time in UTC so names sort in the order the backups were made. The
 * `_<n>` suffix keeps two backups of the same second apart; `_pre-restore`
 * marks the safety backup a restore takes first; `.age` after it an
 * encrypted backup (encryption.ts).
 */
const NAME_PATTERN = /^d3kos_backup_(\d{8})_(\d{6})(?:_(\d{1,4}))?(_pre-restore)?\.tar\.gz(\.age)?$/;

export const ARCHIVE_SUFFIX = '.tar.gz';
export const SIDECAR_SUFFIX = '.sha256';

export interface BackupName {
    name: string;
    /** When the backup was started, from the name. */
    created: Date;
    /** 1 for the first backup of a second, 2, 3... after it. */
    sequence: number;
    preRestore: boolean;
    encrypted: boolean;
}

export function parseBackupName(name: string): BackupName | null {
    const match = NAME_PATTERN.exec(name);
    if (!match) return null;
    const [, day, time, sequence, preRestore, encrypted] = match;
    const iso = `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)}T${time.slice(0, 2)}:${time.slice(2, 4)}:${time.slice(4, 6)}Z`;
    const created = new Date(iso);
    if (Number.isNaN(created.getTime())) return null;
    return { name, created, sequence: sequence ? Number(sequence) : 1, preRestore: Boolean(preRestore), encrypted: Boolean(encrypted) };
}

export function isBackupName(name: string): boolean {
    return parseBackupName(name) !== null;
}

/** The name for a backup started at `when`, the `sequence`-th of that second. */
export function backupName(when: Date, sequence = 1, preRestore = false, encrypted = false): string {
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    const stamp = `${p(when.getUTCFullYear(), 4)}${p(when.getUTCMonth() + 1)}${p(when.getUTCDate())}_` + `${p(when.getUTCHours())}${p(when.getUTCMinutes())}${p(when.getUTCSeconds())}`;
    return `d3kos_backup_${stamp}${sequence > 1 ? `_${sequence}` : ''}${preRestore ? '_pre-restore' : ''}${ARCHIVE_SUFFIX}${encrypted ? '.age' : ''}`;
}

/** Oldest first: by the time in the name, then the sequence. */
export function compareBackupNames(a: BackupName, b: BackupName): number {
    return a.created.getTime() - b.created.getTime() || a.sequence - b.sequence || (a.preRestore ? 1 : 0) - (b.preRestore ? 1 : 0);
}

/**
 * The archive a caller asked for, as a path inside the backup folder. Only a
 * backup name is accepted (or a path that points exactly at one inside the
 * backup folder, as the original settings page sent): never a path elsewhere.
 */
export function resolveBackupFile(backupDir: string, requested: unknown): { name: string; file: string } {
    if (typeof requested !== 'string' || requested.trim() === '') {
        throw new BoatDataError('BACKUP_NAME_MISSING', 'say which backup: give its name, such as d3kos_backup_20260220_122502.tar.gz', 400);
    }
    const text = requested.trim();
    let name = text;
    if (text.includes('/') || text.includes('\\')) {
        const resolved = path.resolve(backupDir, text);
        if (path.dirname(resolved) !== path.resolve(backupDir)) {
            throw new BoatDataError('BACKUP_NAME_INVALID', `"${text}" is not a backup in ${backupDir}; give the backup's name only`, 400);
        }
        name = path.basename(resolved);
    }
    if (!isBackupName(name)) {
        throw new BoatDataError('BACKUP_NAME_INVALID', `"${text}" is not the name of a d3kOS backup (d3kos_backup_<date>_<time>.tar.gz)`, 400);
    }
    return { name, file: path.join(backupDir, name) };
}

export function sidecarOf(archive: string): string {
    return archive + SIDECAR_SUFFIX;
}

/** The name without `.tar.gz`, as the manifest and the README call the backup. */
export function baseName(name: string): string {
    if (name.endsWith(ARCHIVE_SUFFIX + '.age')) return name.slice(0, -(ARCHIVE_SUFFIX.length + 4));
    return name.endsWith(ARCHIVE_SUFFIX) ? name.slice(0, -ARCHIVE_SUFFIX.length) : name;
}
