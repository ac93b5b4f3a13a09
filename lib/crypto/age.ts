import { Readable } from 'stream';
import type { ReadableStream as WebReadableStream } from 'stream/web';

/**
 * The `age-encryption` package (the age format's TypeScript implementation
 * by its authors) is ESM-only and this package compiles to CommonJS: tsc
 * would turn `import()` into `require()`, so the import is hidden from it.
 * Loaded once, on first use.
 */
type AgeModule = typeof import('age-encryption');
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<AgeModule>;
let loading: Promise<AgeModule> | null = null;

export function age(): Promise<AgeModule> {
    loading ??= importEsm('age-encryption');
    return loading;
}

/** A new X25519 identity, `AGE-SECRET-KEY-1…`: what Debian's `age` 1.1 reads (no post-quantum keys yet). */
export async function newIdentity(): Promise<{ identity: string; recipient: string }> {
    const lib = await age();
    const identity = await lib.generateX25519Identity();
    return { identity, recipient: await lib.identityToRecipient(identity) };
}

export async function recipientOf(identity: string): Promise<string> {
    return (await age()).identityToRecipient(identity);
}

/**
 * Encrypts a byte stream to every recipient, as a stream: age works in 64 KiB
 * authenticated chunks, so memory stays bounded whatever the archive's size.
 */
export async function encryptStream(input: Readable, recipients: string[]): Promise<Readable> {
    const lib = await age();
    const e = new lib.Encrypter();
    for (const r of recipients) e.addRecipient(r);
    const out = await e.encrypt(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
    return Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>);
}

/**
 * Decrypts a stream with any of the identities. Each 64 KiB chunk is
 * authenticated before it is passed on, and the last chunk is marked, so a
 * changed byte or a cut-short file ends the stream with an error.
 */
export async function decryptStream(input: Readable, identities: string[]): Promise<Readable> {
    const lib = await age();
    const d = new lib.Decrypter();
    for (const i of identities) d.addIdentity(i);
    const out = await d.decrypt(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
    return Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>);
}

/** True when the text looks like an age identity (checked before it is used or shown). */
export function isIdentityText(text: string): boolean {
    return /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/.test(text.trim());
}

export function isRecipientText(text: string): boolean {
    return /^age1[0-9a-z]{58}$/.test(text.trim());
}
