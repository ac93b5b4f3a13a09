import { promises as fs } from 'fs';
import { BoatDataError } from '../errors';

/** The sha256 a backup's `.sha256` sidecar records (of the encrypted file), so the central side can check the copy. */
export async function readSidecarHash(archive: string, name: string): Promise<string> {
    const text = await fs.readFile(archive + '.sha256', 'utf8').catch(() => '');
    const match = /^([0-9a-f]{64}) [ *](\S+)/i.exec(text);
    if (!match || match[2] !== name) throw new BoatDataError('BACKUP_CHECKSUM_MISSING', `backup ${name} has no usable checksum file, so it cannot be sent off the boat`, 422);
    return match[1].toLowerCase();
}
