import { createWriteStream, promises as fs } from 'fs';
import { Transform } from 'stream';
import { pipeline } from 'stream/promises';
import * as crypto from 'crypto';
import * as zlib from 'zlib';
import * as tar from 'tar';
import { encryptStream } from '../crypto/age';
import { openArchiveBytes } from './encryption';

/**
 * Packs `paths` (relative to `cwd`, in that order) into a gzip tar at
 * `target`, created new with mode 0600 and fsynced before it is closed.
 * Compression runs on libuv's thread pool, so the event loop stays free.
 */
export async function writeArchive(cwd: string, paths: string[], target: string, recipients: string[] | null = null): Promise<{ sha256: string; size: number }> {
    const hash = crypto.createHash('sha256');
    let size = 0;
    const counter = new Transform({
        transform(chunk: Buffer, _enc, callback) {
            hash.update(chunk);
            size += chunk.length;
            callback(null, chunk);
        },
    });
    const pack = tar.c({ cwd, portable: true, noDirRecurse: true }, paths);
    if (recipients) {
        // Encrypted (encryption.ts): the gzip stream goes through age on its way to the file; the hash is of the encrypted bytes.
        const gzip = zlib.createGzip({ level: 6 });
        const encrypted = await encryptStream(gzip, recipients);
        await Promise.all([pipeline(pack, gzip), pipeline(encrypted, counter, createWriteStream(target, { flags: 'wx', mode: 0o600 }))]);
    } else {
        await pipeline(pack, zlib.createGzip({ level: 6 }), counter, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
    }
    // fsync through a fresh descriptor: it flushes the file, whichever descriptor wrote it.
    const handle = await fs.open(target, 'r');
    try {
        await handle.sync();
    } finally {
        await handle.close();
    }
    return { sha256: hash.digest('hex'), size };
}

/** One entry of an archive being read: its header facts and its bytes as an async iterable. */
export type ArchiveEntry = tar.ReadEntry;

/**
 * Reads an archive entry by entry. `onEntry` must consume (or `resume()`)
 * each entry; its work may be asynchronous (the parser waits for it, so a
 * big file never piles up in memory). A damaged archive rejects with the
 * parser's or zlib's error; entries still being read are ended with it.
 */
export async function readArchive(file: string, onEntry: (entry: ArchiveEntry) => Promise<void>, identities?: string[]): Promise<void> {
    // An encrypted archive is decrypted as it is read (encryption.ts); a key that does not fit is refused here.
    const input = await openArchiveBytes(file, identities);
    const parser = new tar.Parser({ strict: true });
    const work: Promise<void>[] = [];
    const open = new Set<ArchiveEntry>();
    let failure: unknown;
    try {
        await new Promise<void>((resolve, reject) => {
            const fail = (err: unknown) => {
                for (const entry of open) entry.emit('error', err);
                reject(err);
            };
            parser.on('entry', (entry: ArchiveEntry) => {
                open.add(entry);
                // The error is reported once, by this function; readers of the entry just stop.
                entry.on('error', () => undefined);
                entry.on('end', () => open.delete(entry));
                work.push(
                    onEntry(entry).catch((err) => {
                        failure ??= err;
                        entry.resume();
                    }),
                );
            });
            parser.on('error', fail);
            parser.on('end', resolve);
            input.on('error', fail);
            input.pipe(parser as unknown as NodeJS.WritableStream);
        });
    } finally {
        input.destroy();
        await Promise.all(work);
    }
    if (failure) throw failure;
}
