import { readRegularFile } from '../files/regular-file';
import { BoatDataError, errorCode, errorMessage } from '../errors';

export type Tier = 0 | 1 | 2 | 3;

export interface License {
    installation_id: string;
    tier: Tier;
    reset_count?: number;
    max_resets?: number;
    version?: string;
    features?: Record<string, unknown>;
    subscription_status?: string;
    subscription_expires_at?: string | null;
    upgrade_method?: string;
    is_paid_tier?: boolean;
    paid_tier_level?: number;
    [key: string]: unknown;
}

export const INSTALLATION_ID_PATTERN = /^[0-9a-f]{16}$/i;

/**
 * Reads license.json fresh on every call, so a tier change on the boat takes
 * effect without a redeploy. Every way the file can be wrong is a clear error:
 * nothing downstream ever guesses a tier.
 */
export async function readLicense(file: string, options: { limitMs?: number } = {}): Promise<License> {
    let text: string;
    try {
        // A regular file only, read within a time limit: a FIFO or a hung drive here would stall every export and /health.
        text = await readRegularFile(file, { maxBytes: 1 << 20, limitMs: options.limitMs });
    } catch (err) {
        if (errorCode(err) === 'ENOENT') {
            throw new BoatDataError('LICENSE_MISSING', `license.json was not found at ${file}; this boat has no license, so nothing can be exported`, 403);
        }
        throw new BoatDataError('LICENSE_UNREADABLE', `license.json at ${file} could not be read: ${errorMessage(err)}`, 500);
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (err) {
        throw new BoatDataError('LICENSE_MALFORMED', `license.json at ${file} is not valid JSON (${errorMessage(err)})`, 500);
    }
    return validateLicense(parsed, file);
}

export function validateLicense(value: unknown, file = 'license.json'): License {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new BoatDataError('LICENSE_MALFORMED', `license.json at ${file} does not hold a license object`, 500);
    }
    const license = value as Record<string, unknown>;
    const tier = license.tier;
    if (typeof tier !== 'number' || !Number.isInteger(tier) || tier < 0 || tier > 3) {
        throw new BoatDataError('TIER_INVALID', `license.json has tier ${JSON.stringify(tier)}, which is not a d3kOS tier (a whole number from 0 to 3)`, 500);
    }
    const id = license.installation_id;
    if (typeof id !== 'string' || !INSTALLATION_ID_PATTERN.test(id)) {
        throw new BoatDataError('INSTALLATION_ID_INVALID', `license.json has installation_id ${JSON.stringify(id)}; it must be 16 hexadecimal characters`, 500);
    }
    return license as License;
}

/** What the settings category may carry of the license: identity, tier and features, never billing internals. */
const LICENSE_FIELDS_SAFE_TO_EXPORT = ['installation_id', 'tier', 'version', 'features', 'subscription_status', 'reset_count', 'max_resets'];

export function redactLicense(license: License): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const redacted: string[] = [];
    for (const [key, value] of Object.entries(license)) {
        if (LICENSE_FIELDS_SAFE_TO_EXPORT.includes(key)) out[key] = redactSecrets(value);
        else redacted.push(key);
    }
    if (redacted.length > 0) out.redacted_fields = redacted.sort();
    return out;
}

const SECRET_KEY_PATTERN = /(api[_-]?key|apikey|token|secret|password|passwd|credential|private[_-]?key|anon[_-]?key|auth)/i;

/** Replaces the value of any key that names a secret, at any depth. */
export function redactSecrets(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(redactSecrets);
    if (typeof value === 'object' && value !== null) {
        const out: Record<string, unknown> = {};
        for (const [key, inner] of Object.entries(value)) {
            out[key] = SECRET_KEY_PATTERN.test(key) ? '[redacted]' : redactSecrets(inner);
        }
        return out;
    }
    return value;
}

export function tierAllows(license: License, minimumTier: number): boolean {
    return license.tier >= minimumTier;
}
