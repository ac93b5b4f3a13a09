import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { syncFolder, tempPathFor, writeFileAtomic } from '../files/atomic';
import { isIdentityText, isRecipientText, newIdentity, recipientOf } from './age';
import { addToRing, keyFromRecoveryIdentity, RING_NAME } from './authenticator';

/**
 * The boat's backup keys live in `<data root>/keys/`, a folder no backup
 * takes and no restore writes (backups take config, data, state and
 * services only): the boat's own age identity, so it can open its own
 * backups, and the public half of the owner's recovery key. The recovery
 * key itself is shown once and never kept; the backup authenticator key
 * derived from it is (authenticator.ts).
 */
export interface KeyFiles {
    dir: string;
    boatIdentity: string;
    recoveryRecipient: string;
    authenticators: string;
}

export function keyFiles(root: string): KeyFiles {
    const dir = path.join(root, 'keys');
    return { dir, boatIdentity: path.join(dir, 'boat-identity.txt'), recoveryRecipient: path.join(dir, 'recovery-recipient.txt'), authenticators: path.join(dir, RING_NAME) };
}

/** The file format `age-keygen` writes, so `age -d -i <file>` reads it. */
function identityFileText(identity: string, recipient: string, created: Date): string {
    return `# created: ${created.toISOString()}\n# public key: ${recipient}\n${identity}\n`;
}

/**
 * The boat's own identity, made on first use. Created with a hard link from
 * a fsynced temp file: two callers at once (or a power cut) can never leave
 * two different keys or a torn file, and an existing key is never replaced.
 */
export async function boatIdentity(root: string): Promise<{ identity: string; recipient: string }> {
    const files = keyFiles(root);
    const existing = await readIdentityFile(files.boatIdentity);
    if (existing) return existing;
    await fs.mkdir(files.dir, { recursive: true, mode: 0o700 });
    const made = await newIdentity();
    const temp = tempPathFor(files.boatIdentity);
    try {
        const handle = await fs.open(temp, 'wx', 0o600);
        try {
            await handle.writeFile(identityFileText(made.identity, made.recipient, new Date()));
            await handle.sync();
        } finally {
            await handle.close();
        }
        await fs.link(temp, files.boatIdentity).catch((err) => {
            if (errorCode(err) !== 'EEXIST') throw err;
        });
        await syncFolder(files.dir);
    } finally {
        await fs.rm(temp, { force: true }).catch(() => undefined);
    }
    const stored = await readIdentityFile(files.boatIdentity);
    if (!stored) throw new BoatDataError('BACKUP_KEY_UNREADABLE', `the boat's backup key ${files.boatIdentity} could not be written`, 500);
    return stored;
}

/** The boat's identity if it has one already (a restore needs it only to open backups it made). */
export async function existingBoatIdentity(root: string): Promise<string | null> {
    return (await readIdentityFile(keyFiles(root).boatIdentity))?.identity ?? null;
}

async function readIdentityFile(file: string): Promise<{ identity: string; recipient: string } | null> {
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return null;
        throw new BoatDataError('BACKUP_KEY_UNREADABLE', `the boat's backup key ${file} cannot be read: ${errorMessage(err)}`, 500);
    }
    const line = text.split(/\r?\n/).find((l) => l.startsWith('AGE-SECRET-KEY-'));
    if (!line || !isIdentityText(line)) {
        throw new BoatDataError('BACKUP_KEY_UNREADABLE', `the boat's backup key ${file} is damaged; move it away to make a new one (backups made with it then open only with the recovery key)`, 500);
    }
    return { identity: line.trim(), recipient: await recipientOf(line.trim()) };
}

export interface RecoveryRecipient {
    recipient: string;
    created_at: string;
}

/** The public half of the owner's recovery key, or null before one was made. */
export async function recoveryRecipient(root: string): Promise<RecoveryRecipient | null> {
    const file = keyFiles(root).recoveryRecipient;
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return null;
        throw new BoatDataError('BACKUP_KEY_UNREADABLE', `the recovery key's public part ${file} cannot be read: ${errorMessage(err)}`, 500);
    }
    const recipient =
        text
            .split(/\r?\n/)
            .find((l) => l.startsWith('age1'))
            ?.trim() ?? '';
    const created = /^# created: (\S+)/m.exec(text)?.[1] ?? null;
    if (!isRecipientText(recipient)) {
        throw new BoatDataError('BACKUP_KEY_UNREADABLE', `the recovery key's public part ${file} is damaged; make a new recovery key`, 500);
    }
    return { recipient, created_at: created ?? (await fs.stat(file)).mtime.toISOString() };
}

/**
 * A new recovery key. Only its public half and the authenticator key
 * derived from it are written (atomically, 0600); the secret half is
 * answered to the caller, once, and kept nowhere. Every
 * backup after this one is encrypted to the new key; backups already made
 * (or sent) keep the key they were made with.
 */
export async function makeRecoveryKey(root: string, now = new Date()): Promise<{ recovery_key: string; recipient: string; created_at: string }> {
    const files = keyFiles(root);
    await fs.mkdir(files.dir, { recursive: true, mode: 0o700 });
    const made = await newIdentity();
    // The authenticator key first: a backup encrypted to the new key is never authenticated with an older one.
    await addToRing(root, keyFromRecoveryIdentity(made.identity));
    await writeFileAtomic(files.recoveryRecipient, `# created: ${now.toISOString()}\n${made.recipient}\n`, { mode: 0o600 });
    return { recovery_key: made.identity, recipient: made.recipient, created_at: now.toISOString() };
}

/**
 * After a recovery with the owner's key: its public half goes back on the
 * boat, so the rebuilt boat's backups are encrypted to the same key again
 * and authenticated with the key derived from it (the boat makes itself a
 * new own key on its next backup).
 */
export async function keepRecoveryRecipient(root: string, recoveryKey: string, now = new Date()): Promise<string> {
    const files = keyFiles(root);
    const recipient = await recipientOf(recoveryKey.trim());
    await fs.mkdir(files.dir, { recursive: true, mode: 0o700 });
    await addToRing(root, keyFromRecoveryIdentity(recoveryKey));
    await writeFileAtomic(files.recoveryRecipient, `# created: ${now.toISOString()}\n${recipient}\n`, { mode: 0o600 });
    return recipient;
}
