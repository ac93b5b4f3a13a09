import * as path from 'path';
import type { BoatLayout } from '../boat/layout';
import { flowEnvSecretRefs, MIN_SECRET_LENGTH, readSecretRefs, SecretRef } from '../boat/secrets';
import { readRegularFile } from '../files/regular-file';

export type { SecretRef };

/**
 * The boat's secrets (cloud credentials, API keys) never go into a backup:
 * their files are left out, and where a secret's value was copied into a
 * file that is backed up (user preferences often hold an API key), it is
 * replaced by a placeholder naming where the value lives. A restore puts the
 * value back from the boat's own secret files, so nothing is lost on the
 * same boat and nothing leaks to a USB stick.
 *
 * A value shorter than MIN_SECRET_LENGTH is not replaced, the same rule the
 * exports follow: such text turns up everywhere, and replacing it would
 * corrupt config files and leave whole databases out of the backup (their
 * pages cannot be rewritten).
 *
 * `flowsFile`, the Node-RED flows file the backup takes: its secret-looking
 * environment variables (a device token set as a global or tab variable)
 * count too.
 */
export async function readBackupSecretRefs(layout: BoatLayout, flowsFile?: string | null): Promise<SecretRef[]> {
    const seen = new Set<string>();
    let flowEnv: SecretRef[] = [];
    if (flowsFile) {
        try {
            flowEnv = flowEnvSecretRefs(await readRegularFile(flowsFile), path.basename(flowsFile));
        } catch {
            // No readable flows file: no variables to hold back from it.
        }
    }
    return (
        [...(await readSecretRefs(layout)), ...flowEnv]
            .filter((r) => r.value.length >= MIN_SECRET_LENGTH && !seen.has(r.value) && seen.add(r.value))
            // Longest first, so a secret that contains another is replaced whole.
            .sort((a, b) => b.value.length - a.value.length)
    );
}

/** The byte sequences to look for: the raw value, and its JSON-escaped form where that differs. */
export interface SecretNeedle {
    ref: string;
    bytes: Buffer;
    placeholder: Buffer;
}

export function secretNeedles(refs: SecretRef[]): SecretNeedle[] {
    const needles: SecretNeedle[] = [];
    for (const { ref, value } of refs) {
        needles.push({ ref, bytes: Buffer.from(value), placeholder: Buffer.from(placeholder(ref, false)) });
        const escaped = JSON.stringify(value).slice(1, -1);
        if (escaped !== value) needles.push({ ref, bytes: Buffer.from(escaped), placeholder: Buffer.from(placeholder(ref, true)) });
    }
    return needles;
}

export function placeholder(ref: string, jsonEscaped: boolean): string {
    return `[[d3kos-secret${jsonEscaped ? '-json' : ''}:${ref}]]`;
}

/** Replaces every needle found in `data`; answers the new bytes and which refs were replaced. */
export function replaceSecrets(data: Buffer, needles: SecretNeedle[]): { data: Buffer; refs: string[] } {
    const refs = new Set<string>();
    let out = data;
    for (const needle of needles) {
        if (out.indexOf(needle.bytes) < 0) continue;
        out = replaceAll(out, needle.bytes, needle.placeholder);
        refs.add(needle.ref);
    }
    return { data: out, refs: [...refs].sort() };
}

/** Puts the boat's current values back for placeholders; answers the refs this boat no longer has. */
export function restoreSecrets(data: Buffer, refs: string[], current: SecretRef[]): { data: Buffer; missing: string[] } {
    const byRef = new Map(current.map((r) => [r.ref, r.value]));
    const missing: string[] = [];
    let out = data;
    for (const ref of refs) {
        const value = byRef.get(ref);
        if (value === undefined) {
            missing.push(ref);
            continue;
        }
        out = replaceAll(out, Buffer.from(placeholder(ref, false)), Buffer.from(value));
        out = replaceAll(out, Buffer.from(placeholder(ref, true)), Buffer.from(JSON.stringify(value).slice(1, -1)));
    }
    return { data: out, missing };
}

function replaceAll(data: Buffer, find: Buffer, replacement: Buffer): Buffer {
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = data.indexOf(find, from); at >= 0; at = data.indexOf(find, from)) {
        parts.push(data.subarray(from, at), replacement);
        from = at + find.length;
    }
    if (parts.length === 0) return data;
    parts.push(data.subarray(from));
    return Buffer.concat(parts);
}

/**
 * Looks for secrets in a stream of chunks (a file too big to hold in
 * memory): keeps the tail of each chunk so a value split across two chunks
 * is still found.
 */
export class SecretScanner {
    private tail = Buffer.alloc(0);
    private readonly keep: number;
    readonly found = new Set<string>();

    constructor(private readonly needles: SecretNeedle[]) {
        this.keep = Math.max(0, ...needles.map((n) => n.bytes.length - 1));
    }

    update(chunk: Buffer): void {
        if (this.needles.length === 0) return;
        const window = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
        for (const needle of this.needles) if (!this.found.has(needle.ref) && window.indexOf(needle.bytes) >= 0) this.found.add(needle.ref);
        this.tail = Buffer.from(window.subarray(Math.max(0, window.length - this.keep)));
    }
}
