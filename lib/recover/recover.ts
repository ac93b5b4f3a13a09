import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError } from '../errors';
import { isIdentityText } from '../crypto/age';
import { keepRecoveryRecipient } from '../crypto/keys';
import { restoreBackup, RestoreReport } from '../backup/restore';
import { BackupSettings } from '../backup/options';
import { verifyBackup } from '../backup/catalogue';
import { sidecarOf } from '../backup/names';
import { downloadCentralCopy } from './download';

/**
 * A boat rebuilt on a new SD card, in one step: the newest encrypted copy
 * from the central vault, downloaded (resumably) and checked, then restored
 * with the owner's recovery key, secret files included, and the boat takes
 * the installation id in the backup (it is the same boat). The recovery key
 * is used in memory only: it is never written anywhere.
 */
export interface RecoverRequest {
    settings: BackupSettings;
    centralUrl: string;
    installationId: string;
    deviceToken: string;
    recoveryKey: string;
    name?: string;
    /** A copy made before backups carried an authenticator: the owner says it is theirs (refused otherwise). */
    acceptUnauthenticated?: boolean;
}

export interface RecoverReport extends RestoreReport {
    downloaded: { name: string; size_bytes: number; sha256: string };
}

export async function recoverFromCentral(request: RecoverRequest): Promise<RecoverReport> {
    const key = (request.recoveryKey ?? '').trim();
    if (!isIdentityText(key)) {
        throw new BoatDataError('RECOVERY_KEY_INVALID', 'the recovery key is the line starting AGE-SECRET-KEY-1 on the sheet kept ashore (74 characters); check it was typed or scanned whole', 400);
    }
    if (!request.centralUrl) throw new BoatDataError('CENTRAL_URL_MISSING', "no central API address is set; give the address of the fleet's central side", 400);
    if (!request.deviceToken) throw new BoatDataError('DEVICE_TOKEN_MISSING', "give the boat's device token (as listed for it on the central side)", 400);
    const copy = await downloadCentralCopy({
        centralUrl: request.centralUrl.replace(/\/+$/, ''),
        installationId: request.installationId,
        token: request.deviceToken,
        backupDir: request.settings.layout.backupDir,
        name: request.name,
    });
    await checkDownloadedCopy(request.settings, copy.name, key, request.acceptUnauthenticated === true);
    const report = await restoreBackup({ ...request.settings, identities: [key] }, copy.name, { keepInstallationId: false, acceptUnauthenticated: request.acceptUnauthenticated });
    // Only the public half stays, so the boat's next backups are encrypted to the same recovery key.
    await keepRecoveryRecipient(request.settings.layout.root, key);
    return { ...report, downloaded: { name: copy.name, size_bytes: copy.size, sha256: copy.sha256 } };
}

/**
 * A downloaded copy must prove it was made by this boat (its authenticator
 * matches the recovery key) before the restore is asked. The vault, or
 * anyone with the public recipient, can encrypt a copy but cannot make
 * that; a copy that fails is removed from the backup folder, so it is not
 * left lying there to be restored later.
 */
export async function checkDownloadedCopy(settings: BackupSettings, name: string, recoveryKey: string, acceptUnauthenticated = false): Promise<void> {
    try {
        await verifyBackup({ ...settings, identities: [recoveryKey] }, name, { acceptUnauthenticated });
    } catch (err) {
        if (err instanceof BoatDataError && (err.code === 'BACKUP_NOT_THIS_BOAT' || err.code === 'BACKUP_UNAUTHENTICATED')) {
            const file = path.join(settings.layout.backupDir, name);
            await fs.rm(file, { force: true });
            await fs.rm(sidecarOf(file), { force: true });
            throw new BoatDataError(err.code, `${err.message}; the downloaded copy was removed and nothing was restored`, err.statusCode);
        }
        throw err;
    }
}
