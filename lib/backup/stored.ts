import { promises as fs } from 'fs';
import { BoatDataError } from '../errors';
import { sidecarOf } from './names';

/**
 * The archive a restore, verify or download works on, checked as list does:
 * a plain file kept in the backup folder itself. A symbolic link there
 * (planted, or left by a tool) is refused before anything is read through
 * it, so nothing about its target (its size, its sha256, whether it exists)
 * reaches the answer. The same for the archive's checksum file.
 */
export async function storedArchive(backupDir: string, name: string, file: string): Promise<{ size: number }> {
    const stat = await fs.lstat(file).catch(() => null);
    if (stat?.isSymbolicLink()) throw notPlain(name, 'is a symbolic link');
    if (!stat?.isFile()) {
        if (stat) throw notPlain(name, 'is not a plain file');
        throw new BoatDataError('BACKUP_NOT_FOUND', `backup ${name} was not found in ${backupDir}`, 404);
    }
    const sidecar = await fs.lstat(sidecarOf(file)).catch(() => null);
    if (sidecar && !sidecar.isFile()) throw notPlain(`${name}.sha256`, sidecar.isSymbolicLink() ? 'is a symbolic link' : 'is not a plain file');
    return { size: stat.size };
}

function notPlain(name: string, what: string): BoatDataError {
    return new BoatDataError(
        'BACKUP_NOT_PLAIN',
        `backup ${name} ${what}, not an archive kept in the backup folder; only backups stored there are listed, verified, restored or downloaded. Copy the archive itself into the backup folder`,
        422,
    );
}
