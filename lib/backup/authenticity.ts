import * as crypto from 'crypto';
import { BoatDataError } from '../errors';
import { isIdentityText } from '../crypto/age';
import { AuthenticatorKey, authenticatorRing, currentAuthenticator, keyFromRecoveryIdentity, manifestMac } from '../crypto/authenticator';

/**
 * The archive entry beside manifest.json that says who made the backup:
 * the HMAC of the manifest's exact bytes (authenticator.ts). The manifest
 * lists every file's size and sha256 and the restore refuses any file it
 * does not list, so this one MAC covers the whole backup. It lives inside
 * the archive (inside the encryption for a `.tar.gz.age`), so the
 * `.sha256` file, `sha256sum -c`, `age -d` and the off-boat copy are as
 * they were.
 */
export const AUTH_NAME = 'manifest.auth';
const AUTH_FORMAT = 'd3kos-backup-auth-1';
export const MAX_AUTH_BYTES = 4096;

/** What a restore, a verify or a drill trusts. */
export interface BackupTrust {
    keys: AuthenticatorKey[];
    /** A recovery key was typed: a refusal names it. */
    recoveryKeyGiven: boolean;
    /** The owner said they made this backup themselves before backups carried an authenticator. */
    acceptUnauthenticated: boolean;
}

/** This boat's keys, and those of any recovery key given (derived here, kept nowhere). */
export async function backupTrust(root: string, identities: string[] = [], acceptUnauthenticated = false): Promise<BackupTrust> {
    const given = identities.filter(isIdentityText).map(keyFromRecoveryIdentity);
    return { keys: [...(await authenticatorRing(root)), ...given], recoveryKeyGiven: given.length > 0, acceptUnauthenticated };
}

/** The authenticator entry for a manifest, made with the boat's current key, and which kind of key that is. */
export async function authenticatorFor(root: string, manifest: Buffer): Promise<{ entry: Buffer; kind: AuthenticatorKey['kind'] }> {
    const key = await currentAuthenticator(root);
    const entry = Buffer.from(JSON.stringify({ format: AUTH_FORMAT, key_id: key.id, hmac_sha256: manifestMac(key, manifest).toString('hex') }) + '\n');
    return { entry, kind: key.kind };
}

export interface Authenticity {
    /** False only for an old backup the owner accepted without one. */
    authenticated: boolean;
    /** Which kind of key made it: the recovery key's, or the boat's own (before there was a recovery key). */
    made_with: AuthenticatorKey['kind'] | null;
}

/** Checks the authenticator of a manifest, or refuses the backup naming why. */
export function checkAuthenticator(name: string, manifest: Buffer, auth: Buffer | null, trust: BackupTrust): Authenticity {
    if (auth === null) {
        if (trust.acceptUnauthenticated) return { authenticated: false, made_with: null };
        throw new BoatDataError(
            'BACKUP_UNAUTHENTICATED',
            `backup ${name} carries no authenticator, so nothing shows this boat made it (a backup made before d3kOS checked this has none, and neither has a copy made by someone else); ` +
                'if you made it yourself on this boat, restore it with accept_unauthenticated',
            422,
        );
    }
    let parsed: { format?: unknown; key_id?: unknown; hmac_sha256?: unknown };
    try {
        parsed = JSON.parse(auth.toString('utf8'));
    } catch {
        parsed = {};
    }
    const notOurs = (why: string) => new BoatDataError('BACKUP_NOT_THIS_BOAT', `this backup was not made by this boat: ${why} (${name})`, 422);
    if (parsed?.format !== AUTH_FORMAT || typeof parsed.hmac_sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.hmac_sha256)) throw notOurs('its authenticator cannot be read');
    const key = trust.keys.find((k) => k.id === parsed.key_id);
    const claimed = Buffer.from(parsed.hmac_sha256, 'hex');
    if (!key || !crypto.timingSafeEqual(manifestMac(key, manifest), claimed)) {
        throw notOurs(trust.recoveryKeyGiven ? 'its authenticator does not match the recovery key' : "its authenticator matches none of this boat's backup keys");
    }
    return { authenticated: true, made_with: key.kind };
}
