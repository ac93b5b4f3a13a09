import { readRegularFile } from '../files/regular-file';
import * as path from 'path';
import type { BoatLayout } from './layout';

/** One secret value of the boat and where it lives: `api-keys.env:OPENAI_API_KEY`, `cloud-credentials.json:device_api_key`. */
export interface SecretRef {
    ref: string;
    value: string;
}

/**
 * Token fields kept in the boat's ordinary config files, which are exported
 * (redacted) and backed up: the Signal K token in vessel.env, API tokens
 * in the preferences and the wizard's answers. Named by the key that holds
 * them, at any depth: a key that ends in token, api key, secret or password.
 * Narrower than the exports' key redaction (which also takes `auth…`),
 * because a backup replaces such a value wherever it appears.
 */
export const TOKEN_KEY = /(^|[_.-])(token|api[_-]?key|apikey|secret|password|passwd|private[_-]?key|anon[_-]?key)$/i;

/** The config files whose token fields count as secrets, as `lib/boat/layout` names them. */
function tokenFiles(layout: BoatLayout): Array<{ file: string; format: 'env' | 'json' }> {
    return [
        { file: layout.vesselEnv, format: 'env' },
        { file: layout.preferences, format: 'json' },
        { file: layout.onboarding, format: 'json' },
    ];
}

/**
 * Every secret value of the boat, named by where it lives: each value of
 * the secret files (cloud credentials, API keys), which are never exported
 * or backed up, and each token field of the config files above. Exports
 * scrub these values wherever they appear, backups replace them by a
 * placeholder that a restore fills from the live files. Missing or
 * damaged files give none. The one reader of what counts as a secret.
 */
export async function readSecretRefs(layout: BoatLayout): Promise<SecretRef[]> {
    const refs: SecretRef[] = [];
    const credentialsName = path.basename(layout.cloudCredentials);
    try {
        walkJson(JSON.parse(await readRegularFile(layout.cloudCredentials)), '', (key, value) => refs.push({ ref: `${credentialsName}:${key}`, value }));
    } catch {
        // No readable credentials file: nothing to hold back from it.
    }
    try {
        for (const [key, value] of envLines(await readRegularFile(layout.apiKeysEnv))) refs.push({ ref: `${path.basename(layout.apiKeysEnv)}:${safeKey(key)}`, value });
    } catch {
        // No api-keys.env on this boat.
    }
    for (const { file, format } of tokenFiles(layout)) {
        const name = path.basename(file);
        try {
            const text = await readRegularFile(file);
            if (format === 'env') {
                for (const [key, value] of envLines(text)) if (TOKEN_KEY.test(key)) refs.push({ ref: `${name}:${safeKey(key)}`, value });
            } else {
                walkJson(JSON.parse(text), '', (key, value, leaf) => {
                    if (TOKEN_KEY.test(leaf)) refs.push({ ref: `${name}:${key}`, value });
                });
            }
        } catch {
            // Missing or not readable as its format: no token fields to hold back.
        }
    }
    // A placeholder a restore could not fill (a new card) is not a secret value.
    return refs.filter((r) => !PLACEHOLDER.test(r.value));
}

const PLACEHOLDER = /^\[\[d3kos-secret(-json)?:[^\]]*\]\]$/;

/**
 * Names of Node-RED environment variables that hold a secret: a word of the name (split at `_`, `.`, `-`) is
 * token, key, secret, password, pass, pwd or credential(s), as in D3KOS_DEVICE_TOKEN or SIGNALK_PASSWORD.
 * Wider than TOKEN_KEY: an env variable is a flow's way to keep a credential out of its nodes.
 */
export const SECRET_ENV_NAME = /(^|[_.-])(token|tokens|key|apikey|secret|secrets|password|passwd|pass|pwd|credential|credentials)($|[_.-])/i;

/**
 * The secret-looking environment variables kept in clear in a Node-RED flows file: the global ones (User Settings
 * > Environment, a `global-config` node in Node-RED 4), and those of every tab, group and subflow (`env` arrays).
 * Named `flows.json:env.<node id>.<name>`; values of type `cred` live in the encrypted credentials file instead.
 */
export function flowEnvSecretRefs(flowsText: string, fileName = 'flows.json'): SecretRef[] {
    let flows: unknown;
    try {
        flows = JSON.parse(flowsText);
    } catch {
        return [];
    }
    const nodes = Array.isArray(flows) ? flows : Array.isArray((flows as { flows?: unknown })?.flows) ? (flows as { flows: unknown[] }).flows : [];
    const refs: SecretRef[] = [];
    for (const node of nodes as Array<{ id?: unknown; env?: unknown }>) {
        if (!node || !Array.isArray(node.env)) continue;
        for (const entry of node.env as Array<{ name?: unknown; value?: unknown }>) {
            if (typeof entry?.name !== 'string' || typeof entry.value !== 'string' || !SECRET_ENV_NAME.test(entry.name)) continue;
            refs.push({ ref: `${fileName}:env.${safeKey(String(node.id))}.${safeKey(entry.name)}`, value: entry.value });
        }
    }
    return refs.filter((r) => !PLACEHOLDER.test(r.value));
}

/** Every string in a JSON value with its dotted path and the key that holds it. */
function walkJson(value: unknown, key: string, found: (key: string, value: string, leaf: string) => void, leaf = ''): void {
    if (typeof value === 'string') found(key, value, leaf);
    else if (Array.isArray(value)) value.forEach((v, i) => walkJson(v, key ? `${key}.${i}` : String(i), found, leaf));
    else if (typeof value === 'object' && value !== null) {
        for (const [k, v] of Object.entries(value)) walkJson(v, key ? `${key}.${safeKey(k)}` : safeKey(k), found, k);
    }
}

/** KEY=VALUE lines of an env file, quotes taken off. */
function envLines(text: string): Array<[string, string]> {
    const pairs: Array<[string, string]> = [];
    for (const line of text.split(/\r?\n/)) {
        const eq = line.indexOf('=');
        if (eq <= 0 || line.trim().startsWith('#')) continue;
        const key = line
            .slice(0, eq)
            .trim()
            .replace(/^export\s+/, '');
        const value = line
            .slice(eq + 1)
            .trim()
            .replace(/^(["'])(.*)\1$/, '$2');
        pairs.push([key, value]);
    }
    return pairs;
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
