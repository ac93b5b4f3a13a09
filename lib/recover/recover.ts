import { BoatDataError } from '../errors';
import { isIdentityText } from '../crypto/age';
import { keepRecoveryRecipient } from '../crypto/keys';
import { restoreBackup, RestoreReport } from '../backup/restore';
import { BackupSettings } from '../backup/options';
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
    const report = await restoreBackup({ ...request.settings, identities: [key] }, copy.name, { keepInstallationId: false });
    // Only the public half stays, so the boat's next backups are encrypted to the same recovery key.
    await keepRecoveryRecipient(request.settings.layout.root, key);
    return { ...report, downloaded: { name: copy.name, size_bytes: copy.size, sha256: copy.sha256 } };
}
