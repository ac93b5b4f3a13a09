import * as path from 'path';
import { errorMessage } from '../errors';
import { backupsIn } from '../backup/retention';
import { AGE_HEAD_BYTES, checkRecoveryKeyText, keyOpensHead, readHead } from '../backup/key-check';
import { newestCopyHead } from '../recover/copy-head';

/**
 * The owner's printed recovery key, checked against what it must open: the
 * newest encrypted backup on the boat and the newest copy ashore. Only their
 * age headers are read; the key is used for this answer and forgotten.
 */
export interface KeyCheckRequest {
    backupDir: string;
    recoveryKey: unknown;
    /** The central vault, when the boat has one set. */
    central: { centralUrl: string; installationId: string; token: string } | null;
}

export interface KeyCheckAnswer {
    success: true;
    newest_backup: { name: string; opens: boolean } | null;
    newest_offboat: { name: string | null; opens: boolean | null; error?: string } | null;
}

export async function checkRecoveryKey(request: KeyCheckRequest): Promise<KeyCheckAnswer> {
    const key = checkRecoveryKeyText(request.recoveryKey);
    const newest = (await backupsIn(request.backupDir)).filter((b) => b.encrypted && !b.preRestore).pop();
    const newest_backup = newest ? { name: newest.name, opens: await keyOpensHead(await readHead(path.join(request.backupDir, newest.name)), key, `backup ${newest.name}`) } : null;
    return { success: true, newest_backup, newest_offboat: request.central ? await checkCentralCopy(request.central, key) : null };
}

async function checkCentralCopy(central: NonNullable<KeyCheckRequest['central']>, key: string): Promise<KeyCheckAnswer['newest_offboat']> {
    let fetched: Awaited<ReturnType<typeof newestCopyHead>>;
    try {
        fetched = await newestCopyHead(central, AGE_HEAD_BYTES);
    } catch (err) {
        return { name: null, opens: null, error: `the central copy could not be checked: ${reachability(err)}` };
    }
    if (!fetched) return null;
    return { name: fetched.copy.name, opens: await keyOpensHead(fetched.head, key, `the central copy ${fetched.copy.name}`) };
}

/** A connection failure in the owner's words; the central side's own refusals are already worded. */
function reachability(err: unknown): string {
    const text = errorMessage(err);
    if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EAI_AGAIN|no answer within/i.test(text)) return 'the central server does not answer';
    return text;
}
