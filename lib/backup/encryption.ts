import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import type { Readable } from 'stream';
import { BoatDataError, errorMessage } from '../errors';
import { decryptStream } from '../crypto/age';
import { boatIdentity, existingBoatIdentity, keyFiles, recoveryRecipient } from '../crypto/keys';
import { stagingInUse } from './staging-in-use';

/**
 * Encrypted backups (the age format, `.tar.gz.age`): made whenever the
 * owner has a recovery key, to two recipients, the boat's own key and the
 * recovery key. They hold the secret files too, so a restore from one is
 * complete; an unencrypted backup still leaves secrets out.
 */
export const ENCRYPTED_SUFFIX = '.age';

/** Whether to encrypt: `auto` (default) when a recovery key exists; `never` for a plain backup. */
export type EncryptChoice = 'auto' | 'never';

/** The recipients a new backup is encrypted to, or null for a plain backup. */
export async function backupRecipients(root: string, choice: EncryptChoice = 'auto'): Promise<string[] | null> {
    if (choice === 'never') return null;
    const recovery = await recoveryRecipient(root);
    if (!recovery) return null;
    const boat = await boatIdentity(root);
    return [boat.recipient, recovery.recipient];
}

/** The identities that may open this boat's encrypted backups: its own key, and any given (the recovery key, used and forgotten). */
export async function backupIdentities(root: string, extra: string[] = []): Promise<string[]> {
    const own = await existingBoatIdentity(root);
    return [...(own ? [own] : []), ...extra];
}

export function isEncryptedName(name: string): boolean {
    return name.endsWith(ENCRYPTED_SUFFIX);
}

/**
 * The archive's gzip bytes: the file itself, or its decryption. A key that
 * does not fit is a clear refusal; damage shows as an error on the stream
 * (each 64 KiB chunk is authenticated before it is passed on).
 */
export async function openArchiveBytes(file: string, identities: string[] | undefined): Promise<Readable> {
    if (!isEncryptedName(file)) return createReadStream(file);
    if (!identities || identities.length === 0) {
        throw new BoatDataError('BACKUP_KEY_MISSING', `${nameOf(file)} is encrypted and this boat has no key for it; restore it with the recovery key`, 422);
    }
    const input = createReadStream(file);
    try {
        return await decryptStream(input, identities);
    } catch (err) {
        input.destroy();
        const text = errorMessage(err);
        if (/no identity matched/i.test(text)) {
            throw new BoatDataError('BACKUP_KEY_MISMATCH', `${nameOf(file)} was encrypted for another boat or an older recovery key; give the recovery key that was current when it was made`, 422);
        }
        throw new BoatDataError('BACKUP_DAMAGED', `${nameOf(file)} is damaged: its encryption header cannot be read (${text})`, 422);
    }
}

function nameOf(file: string): string {
    return file.split(/[\\/]/).pop() ?? file;
}

/** The archive's README, corrected for an encrypted backup: its secrets are inside, and how to open it. */
export function encryptedReadme(text: string): string {
    const note = [
        '  Secrets: this backup is encrypted (age), so config/cloud-credentials.json and config/api-keys.env',
        '  are inside it, and a restore brings them back. Open it with the recovery key kept ashore:',
        '  age -d -i recovery-key.txt <backup>.tar.gz.age | tar xzf -',
    ].join('\n');
    const plain = /^ {2}Secrets: [^\n]*\n(?: {2}[^\n]*\n){0,2}? {2}puts the value back[^\n]*\n/m;
    return plain.test(text) ? text.replace(plain, note + '\n') : `${text.replace(/\n*$/, '\n')}\n${note}\n`;
}

/** Staging folders a power cut left behind are this old before they are removed. */
const STALE_STAGING_MS = 12 * 60 * 60 * 1000;

/**
 * Where an encrypted backup's files are gathered before they are packed and
 * encrypted: `<data root>/keys/.staging-<name>` (0700), on the disk that
 * already holds them in clear, rather than the backup folder, which may be
 * a USB stick: plaintext secrets never touch the backup drive. Leftovers of
 * a power cut are cleared here.
 */
export async function privateStaging(root: string, claim: string, now: Date): Promise<string> {
    const dir = keyFiles(root).dir;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
        if (!name.startsWith('.staging-')) continue;
        const stat = await fs.stat(path.join(dir, name)).catch(() => null);
        if (stat && now.getTime() - stat.mtimeMs > STALE_STAGING_MS) await fs.rm(path.join(dir, name), { recursive: true, force: true });
    }
    const staging = path.join(dir, path.basename(claim));
    await fs.mkdir(staging, { mode: 0o700 });
    stagingInUse.add(path.resolve(staging));
    return staging;
}

/** At start, when no backup is being made: every staging folder left in `keys/` (plaintext secrets) goes, whatever its age. */
export async function removePrivateStaging(root: string): Promise<string[]> {
    const dir = keyFiles(root).dir;
    const removed: string[] = [];
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
        if (!name.startsWith('.staging-') || stagingInUse.has(path.resolve(dir, name))) continue;
        await fs.rm(path.join(dir, name), { recursive: true, force: true });
        removed.push(name);
    }
    return removed;
}
