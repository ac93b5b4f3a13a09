import * as path from 'path';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { registeredVaults, VaultErasure } from '../central/vault-registry';
import { forgetWatchedBoat } from '../fleet/watch-files';
import { BoatDataError } from '../errors';
import { writeJsonAtomic } from '../files/atomic';
import { Reader, tokenDigest } from './access';
import { DEVICES_FILE, readDevices } from './access-lists';
import type { IngestSettings } from './ingest';
import type { ErasedRows, IngestStore } from './store';

export interface ErasureAnswer {
    success: true;
    installation_id: string;
    erased_at: string;
    removed: ErasedRows & { device_tokens: number; vault_copies: number; vault_bytes: number; vault_unfinished_uploads: number };
    let_in_again: string;
}

const LET_IN_AGAIN = "add the boat's device token to devices.json again; until then its uploads are refused with 403";

/**
 * DELETE /api/v1/installations/:id?confirm=<id> (an operator's): a sold boat, or an owner who asks, is
 * gone from the central side. Its device tokens leave devices.json first, so nothing of it is let in
 * while its rows, imports, counts and failures go in one transaction and every registered vault erases
 * its copies. Its tokens are remembered as sha256 only, so a later upload is told why it is refused.
 */
export async function eraseInstallation(store: IngestStore, settings: IngestSettings, reader: Reader, id: unknown, confirm: unknown): Promise<ErasureAnswer> {
    if (settings.mode === 'open') {
        throw new BoatDataError(
            'INGEST_FORBIDDEN',
            'erasing a boat needs tokens mode: in open mode any client may upload as any boat, so neither who asks nor who is kept out afterwards can be known; set the ingest to tokens mode',
            403,
        );
    }
    if (reader.scope !== 'fleet') throw new BoatDataError('INGEST_FORBIDDEN', 'erasing a boat is for an operator token (operators.json), not a device token', 403);
    const installationId = String(id ?? '').toLowerCase();
    if (!INSTALLATION_ID_PATTERN.test(installationId))
        throw new BoatDataError('INSTALLATION_INVALID', `installation ${JSON.stringify(id ?? '')} is not an installation_id (16 hexadecimal characters)`, 400);
    if (String(confirm ?? '').toLowerCase() !== installationId) {
        throw new BoatDataError(
            'ERASE_UNCONFIRMED',
            `erasing ${installationId} removes all of its data for good; confirm it with ?confirm=${installationId} (or a JSON body {"confirm": "${installationId}"})`,
            400,
        );
    }

    const erasedAt = new Date().toISOString();
    const devices = await readDevices(settings.dataDir);
    const tokens = [...devices].filter(([, installation]) => installation === installationId).map(([token]) => token);
    if (tokens.length > 0) {
        const kept = Object.fromEntries([...devices].filter(([, installation]) => installation !== installationId));
        await writeJsonAtomic(path.join(settings.dataDir, DEVICES_FILE), kept, { mode: 0o600 });
    }
    const rows = await store.eraseInstallation(installationId, tokens.map(tokenDigest), erasedAt);
    const vaults: VaultErasure[] = await Promise.all(registeredVaults().map((vault) => vault.erase(installationId)));
    // The silent-boat watch's memory of it goes too, so no file of the ingest folder names the boat.
    await forgetWatchedBoat(settings.dataDir, installationId);
    const removed = {
        ...rows,
        device_tokens: tokens.length,
        vault_copies: vaults.reduce((n, v) => n + v.copies, 0),
        vault_bytes: vaults.reduce((n, v) => n + v.bytes, 0),
        vault_unfinished_uploads: vaults.reduce((n, v) => n + v.unfinished_uploads, 0),
    };
    if (Object.values(removed).every((n) => n === 0)) {
        throw new BoatDataError('INSTALLATION_UNKNOWN', `nothing of installation ${installationId} is stored here (no rows, device token or vault copy); nothing was erased`, 404);
    }
    return { success: true, installation_id: installationId, erased_at: erasedAt, removed, let_in_again: LET_IN_AGAIN };
}
