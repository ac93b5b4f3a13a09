import { promises as fs } from 'fs';
import * as crypto from 'crypto';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { writeFileAtomic } from '../files/atomic';
import * as path from 'path';

/**
 * Who made a backup. Encryption proves only secrecy (the recovery
 * recipient is public), so every backup also carries an HMAC-SHA256 of its
 * manifest made with a key only the boat and the owner's recovery key can
 * make: derived (HKDF-SHA256) from the recovery identity when it is
 * generated, kept on the boat in `keys/` (which no backup takes), and
 * derived again from the typed key at recovery. Before a recovery key
 * exists the boat makes itself a random one. Every key the boat has used
 * stays in the ring, so its older backups keep restoring on this boat.
 */
export interface AuthenticatorKey {
    id: string;
    key: Buffer;
    /** `recovery`: derived from a recovery key; `boat`: the boat's own, before there was one. */
    kind: 'recovery' | 'boat';
}

/** In `<data root>/keys/`, beside the boat's age key (keys.ts). */
export const RING_NAME = 'backup-authenticators.txt';
const ringFile = (root: string) => path.join(root, 'keys', RING_NAME);

const HKDF_INFO = 'd3kos backup authenticator v1';
const RING_HEADER = '# d3kOS backup authenticator keys: they prove a backup was made by this boat. Never copy this file off the boat.\n';

/** The key a recovery identity (`AGE-SECRET-KEY-1…`) stands for: the same on the boat and at recovery on a new card. */
export function keyFromRecoveryIdentity(identity: string): AuthenticatorKey {
    const secret = Buffer.from(identity.trim().toUpperCase(), 'utf8');
    return withId(Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.alloc(0), HKDF_INFO, 32)), 'recovery');
}

function withId(key: Buffer, kind: AuthenticatorKey['kind']): AuthenticatorKey {
    // The id names the key without telling anything about it: a hash, cut short.
    const id = crypto.createHash('sha256').update('d3kos backup authenticator key id\n').update(key).digest('hex').slice(0, 16);
    return { id, key, kind };
}

/** Every key in the boat's ring, the current one last. */
export async function authenticatorRing(root: string): Promise<AuthenticatorKey[]> {
    const file = ringFile(root);
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return [];
        throw new BoatDataError('BACKUP_KEY_UNREADABLE', `the boat's backup authenticator keys cannot be read: ${errorMessage(err)}`, 500);
    }
    return parseRing(text);
}

export function parseRing(text: string): AuthenticatorKey[] {
    const ring: AuthenticatorKey[] = [];
    for (const line of text.split(/\r?\n/)) {
        const m = /^([0-9a-f]{16}) ([0-9a-f]{64}) (recovery|boat)$/.exec(line.trim());
        if (m) ring.push(withId(Buffer.from(m[2], 'hex'), m[3] as AuthenticatorKey['kind']));
    }
    return ring;
}

/** Adds a key to the ring and makes it the current one (atomically, 0600). */
export async function addToRing(root: string, key: AuthenticatorKey): Promise<void> {
    await fs.mkdir(path.dirname(ringFile(root)), { recursive: true, mode: 0o700 });
    const ring = (await authenticatorRing(root)).filter((k) => k.id !== key.id);
    const lines = [...ring, key].map((k) => `${k.id} ${k.key.toString('hex')} ${k.kind}`);
    await writeFileAtomic(ringFile(root), RING_HEADER + lines.join('\n') + '\n', { mode: 0o600 });
}

/** The key new backups are authenticated with: the newest in the ring, or a new boat key on first use. */
export async function currentAuthenticator(root: string): Promise<AuthenticatorKey> {
    const ring = await authenticatorRing(root);
    const current = ring[ring.length - 1];
    if (current) return current;
    const made = withId(crypto.randomBytes(32), 'boat');
    await addToRing(root, made);
    return made;
}

const MAC_LABEL = 'd3kos backup manifest\n';

/** The HMAC-SHA256 of a manifest's exact bytes. */
export function manifestMac(key: AuthenticatorKey, manifest: Buffer): Buffer {
    return crypto.createHmac('sha256', key.key).update(MAC_LABEL).update(manifest).digest();
}
