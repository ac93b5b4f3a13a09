import { promises as fs } from 'fs';
import { BoatDataError, errorMessage } from '../errors';
import { age, isIdentityText } from '../crypto/age';

/**
 * Whether a recovery key opens an encrypted backup, told from the age
 * header alone: the header wraps the file key once for each recipient, so
 * unwrapping it answers the question without decrypting a byte of the
 * backup (and without downloading more than the header of a central copy).
 */
export const AGE_HEAD_BYTES = 64 * 1024;

export function checkRecoveryKeyText(value: unknown): string {
    const text = typeof value === 'string' ? value.trim() : '';
    if (!isIdentityText(text)) {
        throw new BoatDataError(
            'RECOVERY_KEY_INVALID',
            'that is not a recovery key: a recovery key starts with AGE-SECRET-KEY-1 and has 74 letters and digits (as printed on the recovery sheet)',
            400,
        );
    }
    return text;
}

export async function keyOpensHead(head: Buffer, recoveryKey: string, what: string): Promise<boolean> {
    const lib = await age();
    const d = new lib.Decrypter();
    d.addIdentity(recoveryKey);
    try {
        await d.decryptHeader(new Uint8Array(head));
        return true;
    } catch (err) {
        if (/no identity matched/i.test(errorMessage(err))) return false;
        throw new BoatDataError('BACKUP_DAMAGED', `${what} is damaged: its encryption header cannot be read`, 422);
    }
}

/** The first bytes of a file: enough for any age header this package writes. */
export async function readHead(file: string): Promise<Buffer> {
    const handle = await fs.open(file, 'r');
    try {
        const head = Buffer.alloc(AGE_HEAD_BYTES);
        const { bytesRead } = await handle.read(head, 0, head.length, 0);
        return head.subarray(0, bytesRead);
    } finally {
        await handle.close();
    }
}
