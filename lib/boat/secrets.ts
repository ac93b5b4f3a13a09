import { readRegularFile } from '../files/regular-file';
import * as path from 'path';
import type { BoatLayout } from './layout';

/** One secret value of the boat and where it lives: `api-keys.env:OPENAI_API_KEY`, `cloud-credentials.json:device_api_key`. */
export interface SecretRef {
    ref: string;
    value: string;
}

/**
 * Every value of the boat's secret files (cloud credentials, API keys), named
 * by where it lives. Those files are never exported or backed up; this list
 * lets exports and backups also catch a secret that was copied somewhere
 * else, under an innocent-looking name. Missing or damaged files give none.
 */
export async function readSecretRefs(layout: BoatLayout): Promise<SecretRef[]> {
    const refs: SecretRef[] = [];
    const credentialsName = path.basename(layout.cloudCredentials);
    try {
        const walk = (value: unknown, key: string) => {
            if (typeof value === 'string') refs.push({ ref: `${credentialsName}:${key}`, value });
            else if (Array.isArray(value)) value.forEach((v, i) => walk(v, key ? `${key}.${i}` : String(i)));
            else if (typeof value === 'object' && value !== null) {
                for (const [k, v] of Object.entries(value)) walk(v, key ? `${key}.${safeKey(k)}` : safeKey(k));
            }
        };
        walk(JSON.parse(await readRegularFile(layout.cloudCredentials)), '');
    } catch {
        // No readable credentials file: nothing to hold back from it.
    }
    const envName = path.basename(layout.apiKeysEnv);
    try {
        for (const line of (await readRegularFile(layout.apiKeysEnv)).split(/\r?\n/)) {
            const eq = line.indexOf('=');
            if (eq <= 0 || line.trim().startsWith('#')) continue;
            const key = line.slice(0, eq).trim().replace(/^export\s+/, '');
            const value = line.slice(eq + 1).trim().replace(/^(["'])(.*)\1$/, '$2');
            refs.push({ ref: `${envName}:${safeKey(key)}`, value });
        }
    } catch {
        // No api-keys.env on this boat.
    }
    return refs;
}

function safeKey(key: string): string {
    return key.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/**
 * Short values (true, 1, a region, a port) would match ordinary text all over
 * the boat's files; real keys and tokens are long. Exports and backups both
 * go by this.
 */
export const MIN_SECRET_LENGTH = 8;

/** The secret values long enough to look for, each once. */
export async function knownSecretValues(layout: BoatLayout): Promise<string[]> {
    return [...new Set((await readSecretRefs(layout)).map((r) => r.value).filter((v) => v.length >= MIN_SECRET_LENGTH))];
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
