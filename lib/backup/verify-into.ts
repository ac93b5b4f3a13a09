import { promises as fs } from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { BoatDataError, errorMessage } from '../errors';
import { ArchiveEntry, readArchive } from './archive';
import { BackupTrust } from './authenticity';
import { checkEntryPath, checkEntryType } from './entries';
import { InspectedArchive, inspectArchive } from './inspect';

/**
 * A backup proven (checksum, entries, authenticator, every file hash, as
 * `inspectArchive`) and then unpacked into `target`, a scratch folder of
 * the caller's (a restore drill's): each file at its archive path, hashed
 * again as it is written. Nothing of the boat is touched; `target` must be
 * empty or absent. `beforeUnpack` runs between the proof and the first
 * byte written.
 */
export async function verifyInto(
    archive: string,
    name: string,
    target: string,
    identities: string[] | undefined,
    trust: BackupTrust,
    beforeUnpack: (inspected: InspectedArchive) => Promise<void> = async () => undefined,
): Promise<InspectedArchive> {
    const inspected = await inspectArchive(archive, name, identities, trust);
    // Proven, not yet written: the caller's last word (room for the unpacked files, say).
    await beforeUnpack(inspected);
    const listed = new Map(inspected.manifest.files.map((f) => [f.path, f]));
    await fs.mkdir(target, { recursive: true, mode: 0o700 });
    const written = new Set<string>();
    try {
        await readArchive(
            archive,
            async (entry: ArchiveEntry) => {
                const type = String(entry.type);
                const file = type === 'Directory' ? undefined : listed.get(entry.path);
                if (!file || checkEntryType(type) || checkEntryPath(entry.path) || written.has(entry.path)) {
                    entry.resume();
                    return;
                }
                written.add(entry.path);
                const out = path.join(target, ...entry.path.split('/'));
                await fs.mkdir(path.dirname(out), { recursive: true, mode: 0o700 });
                const handle = await fs.open(out, 'wx', 0o600);
                const hash = crypto.createHash('sha256');
                try {
                    for await (const chunk of entry) {
                        hash.update(chunk as Buffer);
                        await handle.write(chunk as Buffer);
                    }
                } finally {
                    await handle.close();
                }
                if (hash.digest('hex') !== file.sha256) throw new Error(`${entry.path} changed after it was checked`);
            },
            identities,
        );
    } catch (err) {
        if (err instanceof BoatDataError) throw err;
        throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} changed while it was being unpacked (${errorMessage(err)})`, 422);
    }
    if (written.size !== listed.size) throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} changed while it was being unpacked`, 422);
    return inspected;
}
