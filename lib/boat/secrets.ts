import { promises as fs } from 'fs';
import type { BoatLayout } from './layout';

/**
 * The secret values stored on the boat (cloud credentials, API keys). We
 * never export these files; this list lets the small categories also scrub
 * a secret that was copied somewhere else, under an innocent-looking name.
 */
export async function knownSecretValues(layout: BoatLayout): Promise<string[]> {
    const values: string[] = [];
    try {
        collectStrings(JSON.parse(await fs.readFile(layout.cloudCredentials, 'utf8')), values);
    } catch {
        // Missing or damaged credentials file: nothing to scrub for.
    }
    try {
        for (const line of (await fs.readFile(layout.apiKeysEnv, 'utf8')).split(/\r?\n/)) {
            const eq = line.indexOf('=');
            if (eq > 0 && !line.trim().startsWith('#')) values.push(line.slice(eq + 1).trim().replace(/^["']|["']$/g, ''));
        }
    } catch {
        // No api-keys.env on this boat.
    }
    // Short values (true, 1, a region) would scrub ordinary text; real keys are long.
    return [...new Set(values.filter((v) => v.length >= 8))];
}

function collectStrings(value: unknown, into: string[]): void {
    if (typeof value === 'string') into.push(value);
    else if (Array.isArray(value)) value.forEach((v) => collectStrings(v, into));
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach((v) => collectStrings(v, into));
}

/** Replaces any occurrence of a known secret inside string values, at any depth. */
export function scrubKnownSecrets<T>(value: T, secrets: string[]): T {
    if (secrets.length === 0) return value;
    const scrub = (v: unknown): unknown => {
        if (typeof v === 'string') return secrets.reduce((text, secret) => (text.includes(secret) ? text.split(secret).join('[redacted]') : text), v);
        if (Array.isArray(v)) return v.map(scrub);
        if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, scrub(inner)]));
        return v;
    };
    return scrub(value) as T;
}
