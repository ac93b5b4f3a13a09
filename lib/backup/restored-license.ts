import { promises as fs } from 'fs';

/**
 * What a boat's license entitles it to. A backup is made by whoever holds
 * the archive (a USB stick is the normal case, and its checksum file and
 * manifest can be made to match anything), so a restore never takes these
 * from it while the boat has a license of its own.
 */
export const ENTITLEMENT_FIELDS = ['tier', 'features', 'subscription_status', 'subscription_expires_at', 'is_paid_tier', 'paid_tier_level', 'upgrade_method', 'reset_count', 'max_resets'] as const;

export interface SettledLicense {
    /** The license.json to write, or null when the backup's goes in unchanged. */
    text: string | null;
    installation_id: { current: string | null; in_backup: string | null; kept: string | null; note: string };
    license: { tier_kept: number | null; tier_in_backup: number | null; note: string };
}

/**
 * The license.json a restore writes: the backup's, with this boat's
 * entitlement (tier, subscription, resets) and, unless asked otherwise,
 * its installation_id. A boat without a readable license (a fresh card)
 * takes the backup's license as it is.
 */
export function settleLicense(current: Record<string, unknown> | null, restored: Record<string, unknown> | null, manifestInstallationId: string | null, keepInstallationId: boolean): SettledLicense {
    const idOf = (license: Record<string, unknown> | null) => (typeof license?.installation_id === 'string' ? license.installation_id : null);
    const tierOf = (license: Record<string, unknown> | null) => (typeof license?.tier === 'number' ? license.tier : null);
    const currentId = idOf(current);
    const inBackup = idOf(restored) ?? manifestInstallationId;
    if (!restored) {
        return {
            text: null,
            installation_id: { current: currentId, in_backup: inBackup, kept: currentId, note: 'the backup holds no readable license.json; the boat keeps its own' },
            license: { tier_kept: tierOf(current), tier_in_backup: null, note: 'the boat keeps its own license' },
        };
    }
    const merged: Record<string, unknown> = { ...restored };
    let licenseNote: string;
    if (current) {
        for (const field of ENTITLEMENT_FIELDS) {
            if (field in current) merged[field] = current[field];
            else delete merged[field];
        }
        licenseNote = `the boat keeps its own tier ${tierOf(current) ?? 'unknown'}, subscription and reset count; a backup never changes them`;
    } else {
        licenseNote = `this boat had no readable license, so the backup's (tier ${tierOf(restored) ?? 'unknown'}) was restored as it is`;
    }

    let kept: string | null;
    let idNote: string;
    if (!keepInstallationId) {
        kept = inBackup;
        idNote = `the backup's installation id ${inBackup} was restored, as asked`;
    } else if (!currentId) {
        kept = inBackup;
        idNote = `this boat had no readable installation id, so the backup's ${inBackup} was restored`;
    } else {
        kept = currentId;
        idNote = currentId === inBackup ? `the boat keeps its installation id ${currentId}` : `the backup was made on installation ${inBackup}; this boat keeps its own installation id ${currentId}`;
    }
    if (kept === null) delete merged.installation_id;
    else merged.installation_id = kept;

    return {
        // Rewritten only when something differs, so a same-boat restore leaves the file's bytes (and the license service) alone.
        text: JSON.stringify(merged) === JSON.stringify(restored) ? null : JSON.stringify(merged, null, 2) + '\n',
        installation_id: { current: currentId, in_backup: inBackup, kept, note: idNote },
        license: { tier_kept: tierOf(merged), tier_in_backup: tierOf(restored), note: licenseNote },
    };
}

/** The license as a JSON object, or null when the file is missing or not a JSON object. */
export async function readLicenseObject(file: string): Promise<Record<string, unknown> | null> {
    try {
        const value = JSON.parse(await fs.readFile(file, 'utf8'));
        return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : null;
    } catch {
        return null;
    }
}
