import { createReadStream, promises as fs } from 'fs';
import * as crypto from 'crypto';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import * as zlib from 'zlib';
import { BoatDataError } from '../errors';
import { formatMegabytes } from './limits';
import type { SpoolFolder } from './spool-folder';

/** 256 MB as sent (gzip): some 2.5 GB of export JSON, several years of a busy boat; nothing of it is held in memory. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;

/**
 * An export inflates some 5 to 30 times; past this (and past 256 MB), the body is a gzip bomb, not an
 * export. Nothing of it is held in memory either way: this only bounds the time spent reading it.
 */
export const MAX_INFLATION = 200;
const INFLATED_FLOOR_BYTES = 256 * 1024 * 1024;

/** An upload up to this size waits in memory for its turn; a larger one in a file of the spool folder. */
const SPOOL_MEMORY_BYTES = 1024 * 1024;

/** Slices fed to the parser at a time: gunzip's output chunk, and the slices of a body already in memory. */
const CHUNK_BYTES = 64 * 1024;

export interface UploadHeaders {
    'content-encoding'?: string | string[];
    [name: string]: string | string[] | undefined;
}

/** The encodings this ingest decodes, best first: its health answer and a 415's Accept-Encoding name them. */
export const ACCEPTED_ENCODINGS = ['br', 'gzip'] as const;

/** How the body was said to be encoded: gzip (also sniffed by its magic bytes), br, or nothing said. */
export type DeclaredEncoding = 'gzip' | 'br' | null;

/** What the headers alone rule out: an unknown encoding (415, naming those it takes), a declared size over the cap. Answers the encoding said. */
export function checkBeforeReading(headers: UploadHeaders, maxBytes: number): DeclaredEncoding {
    const encoding = headerValue(headers['content-encoding']).toLowerCase();
    if (encoding !== '' && encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip' && encoding !== 'br') {
        throw new BoatDataError('UPLOAD_ENCODING', `Content-Encoding "${encoding}" is not supported; send the export compressed with ${ACCEPTED_ENCODINGS.join(' or ')}`, 415);
    }
    const declared = Number(headerValue(headers['content-length']) || 0);
    if (declared > maxBytes) {
        throw new BoatDataError(
            'UPLOAD_TOO_LARGE',
            `the upload is ${formatMegabytes(declared)}, more than the ${formatMegabytes(maxBytes)} this ingest accepts; send incremental exports or raise the ingest node's limit`,
            413,
        );
    }
    return encoding === 'br' ? 'br' : encoding === 'gzip' || encoding === 'x-gzip' ? 'gzip' : null;
}

/**
 * An upload as it was sent, received whole before its import starts, so a
 * slow link never holds the database while its bytes trickle in: small
 * ones in memory, larger ones in a temp file (never more than 1 MB of it
 * in memory). `discard` removes the file.
 */
export class Spool {
    bytes = 0;
    private chunks: Buffer[] = [];
    private file: string | undefined;
    private handle: fs.FileHandle | undefined;
    private discarded = false;
    private leave: (() => void) | undefined;
    private reserved = 0;

    /** `folder`: where a large upload waits, within its caps; none: the system temp folder (tools, tests). */
    constructor(private readonly folder?: SpoolFolder) {}

    get head(): Buffer {
        return this.chunks[0] ?? Buffer.alloc(0);
    }

    async add(chunk: Buffer): Promise<void> {
        if (chunk.length === 0 || this.discarded) return;
        if (this.bytes === 0) this.chunks.push(Buffer.from(chunk.subarray(0, 2)));
        this.bytes += chunk.length;
        if (!this.handle && this.bytes > SPOOL_MEMORY_BYTES) {
            this.takePlace(this.bytes - chunk.length);
            this.file = path.join(this.folder?.dir ?? os.tmpdir(), `d3kos-upload-${crypto.randomUUID()}`);
            this.handle = await fs.open(this.file, 'wx', 0o600);
            // Refused while the file was being made: it goes again at once.
            if (this.discarded) return this.discard();
            for (const kept of this.chunks.slice(1)) await this.handle.write(kept);
            this.chunks = this.chunks.slice(0, 1);
        }
        if (this.handle) {
            this.folder?.reserve(chunk.length);
            this.reserved += chunk.length;
            await this.handle.write(chunk);
        } else this.chunks.push(chunk);
    }

    /** A file of the spool folder: a place among the uploads it takes at once, and room for what is already in memory. */
    private takePlace(bytesInMemory: number): void {
        if (!this.folder) return;
        this.leave = this.folder.admit();
        this.folder.reserve(bytesInMemory);
        this.reserved += bytesInMemory;
    }

    /** The upload again, in slices. */
    stream(): Readable {
        if (this.file) return createReadStream(this.file, { highWaterMark: CHUNK_BYTES });
        return Readable.from(slices(this.chunks.slice(1)), { objectMode: false });
    }

    async finish(): Promise<void> {
        await this.handle?.close();
        this.handle = undefined;
    }

    async discard(): Promise<void> {
        this.discarded = true;
        this.chunks = [];
        await this.finish().catch(() => undefined);
        if (this.file) await fs.rm(this.file, { force: true });
        this.folder?.release(this.reserved);
        this.reserved = 0;
        this.leave?.();
    }
}

/**
 * Receives the body of an upload (the request stream, or bytes an http-in
 * node already read whole) into a Spool, refusing it (413) the moment more
 * than `maxBytes` have come. After a refusal the rest of a stream flows on
 * unread into nothing; how much of it to take before cutting the
 * connection is the HTTP side's choice (see import-route.ts).
 */
export function spoolUpload(body: Readable | Buffer, maxBytes: number, folder?: SpoolFolder): Promise<Spool> {
    const spool = new Spool(folder);
    const source = Buffer.isBuffer(body) ? Readable.from(slices([body]), { objectMode: false }) : body;
    return new Promise<Spool>((resolve, reject) => {
        let finished = false;
        let writing: Promise<void> = Promise.resolve();
        const stop = (err?: Error) => {
            if (finished) return;
            finished = true;
            source.off('data', onData);
            if (err) {
                source.resume();
                return void spool.discard().then(
                    () => reject(err),
                    () => reject(err),
                );
            }
            writing
                .then(() => spool.finish())
                .then(
                    () => resolve(spool),
                    (e) => spool.discard().then(() => reject(e)),
                );
        };
        const onData = (data: Buffer | string) => {
            const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data);
            if (spool.bytes + chunk.length > maxBytes) return stop(tooLarge(maxBytes));
            // One write at a time: the request waits while the file catches up.
            source.pause();
            writing = writing
                .then(() => spool.add(chunk))
                .then(
                    () => {
                        if (!finished) source.resume();
                    },
                    (err) => stop(err instanceof BoatDataError ? err : new BoatDataError('INGEST_SPOOL', `the upload could not be set aside for its turn (${(err as Error).message})`, 507)),
                );
        };
        source.on('data', onData);
        source.once('end', () => writing.then(() => stop()));
        source.once('error', (err) => stop(cutOff(err)));
        source.once('close', () => {
            if (!source.readableEnded) stop(cutOff());
        });
    });
}

/**
 * The export's bytes, gunzipped when the upload is gzip (said or not, it
 * starts with gzip's magic bytes), decoded when it says br (brotli has no
 * magic bytes), in slices of 64 kB. A body that inflates past MAX_INFLATION
 * times its size is refused (413) as it does so, whichever the encoding.
 */
export async function* uploadBytes(spool: Spool, declared: DeclaredEncoding | boolean): AsyncGenerator<Buffer> {
    const head = spool.head;
    const gzipped = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    const brotli = declared === 'br';
    if (spool.bytes === 0) throw new BoatDataError('UPLOAD_EMPTY', 'the body is empty; send the export file, gzip-compressed', 400);
    if ((declared === true || declared === 'gzip') && !gzipped) throw new BoatDataError('UPLOAD_NOT_GZIP', 'the body is not gzip data, although Content-Encoding says gzip', 400);
    const source = spool.stream();
    if (!gzipped && !brotli) {
        try {
            yield* source as AsyncIterable<Buffer>;
        } finally {
            source.destroy();
        }
        return;
    }
    const gunzip = brotli ? zlib.createBrotliDecompress({ chunkSize: CHUNK_BYTES }) : zlib.createGunzip({ chunkSize: CHUNK_BYTES });
    source.on('error', (err) => gunzip.destroy(err));
    source.pipe(gunzip);
    const cap = Math.max(spool.bytes * MAX_INFLATION, INFLATED_FLOOR_BYTES);
    let inflated = 0;
    try {
        for await (const chunk of gunzip as AsyncIterable<Buffer>) {
            inflated += chunk.length;
            if (inflated > cap) {
                throw new BoatDataError(
                    'UPLOAD_TOO_LARGE',
                    `the body inflates more than ${MAX_INFLATION} times its size (a ${brotli ? 'brotli' : 'gzip'} bomb, not an export); nothing of it was stored`,
                    413,
                );
            }
            yield chunk;
        }
    } catch (err) {
        if (err instanceof BoatDataError) throw err;
        throw brotli ? brotliFailed(err as NodeJS.ErrnoException) : gunzipFailed(err as NodeJS.ErrnoException);
    } finally {
        source.unpipe(gunzip);
        source.destroy();
        gunzip.destroy();
    }
}

function tooLarge(maxBytes: number): BoatDataError {
    return new BoatDataError(
        'UPLOAD_TOO_LARGE',
        `the upload is larger than the ${formatMegabytes(maxBytes)} this ingest accepts (as sent); send incremental exports or raise the ingest node's limit`,
        413,
    );
}

function headerValue(value: string | string[] | undefined): string {
    return (Array.isArray(value) ? value.join(',') : (value ?? '')).trim();
}

function* slices(buffers: Buffer[]): Generator<Buffer> {
    for (const buffer of buffers) {
        for (let at = 0; at < buffer.length; at += CHUNK_BYTES) yield buffer.subarray(at, at + CHUNK_BYTES);
    }
}

function cutOff(err?: Error): BoatDataError {
    const detail = err ? ` (${err.message})` : '';
    return new BoatDataError('UPLOAD_CUT_OFF', `the upload was cut off before it ended${detail}; the boat will send it again`, 400);
}

function brotliFailed(err: NodeJS.ErrnoException): BoatDataError {
    if (err.code === 'ERR__ERROR_FORMAT_PADDING_1' || /unexpected end/i.test(err.message)) {
        return new BoatDataError('UPLOAD_TRUNCATED', 'the brotli body ends before the export does (truncated upload)', 400);
    }
    return new BoatDataError('UPLOAD_NOT_BROTLI', `the body is not valid brotli data (${err.message})`, 400);
}

function gunzipFailed(err: NodeJS.ErrnoException): BoatDataError {
    if (err.code === 'Z_BUF_ERROR' || /unexpected end/i.test(err.message)) {
        return new BoatDataError('UPLOAD_TRUNCATED', 'the gzip body ends before the export does (truncated upload)', 400);
    }
    return new BoatDataError('UPLOAD_NOT_GZIP', `the body is not valid gzip data (${err.message})`, 400);
}
