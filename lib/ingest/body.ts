import { Readable } from 'stream';
import * as zlib from 'zlib';
import { BoatDataError } from '../errors';

/** 256 MB decompressed: a full export of a busy boat fits; V8 cannot hold a string much past 512 MB anyway. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;

/** Slices fed to gunzip from a body already in memory, so a cap can stop it part way. */
const FEED_BYTES = 64 * 1024;

export interface UploadHeaders {
    'content-encoding'?: string | string[];
    [name: string]: string | string[] | undefined;
}

/**
 * The export JSON of an upload, as UTF-8 bytes: SQLite reads them as text
 * itself, so no string of the whole export is ever built in JavaScript. The body is gzip (Content-Encoding:
 * gzip, as the boat sends it) or plain JSON (an operator's curl). A declared
 * Content-Length over the cap is refused before a byte is read; the
 * decompressed size is counted as it comes and decompression stops the
 * moment it passes `maxBytes`, so a gzip bomb never fills memory. After a
 * refusal the rest of a stream flows on unread into nothing.
 *
 * `body` is the request stream (the ingest node's own route), or raw bytes
 * an http-in node has already read whole (Node-RED 4.1 does that, unbounded,
 * when body parsing is off: the reason the ingest serves its route itself).
 */
export async function readUploadBody(body: Readable | Buffer, headers: UploadHeaders, maxBytes = DEFAULT_MAX_BODY_BYTES): Promise<Buffer> {
    let encoding: string;
    try {
        encoding = checkBeforeReading(headers, maxBytes);
    } catch (err) {
        if (!Buffer.isBuffer(body)) body.resume();
        throw err;
    }
    const source = Buffer.isBuffer(body) ? Readable.from(slices(body), { highWaterMark: 1 }) : body;
    const bytes = await readCapped(source, encoding === 'gzip' || encoding === 'x-gzip', maxBytes);
    if (bytes.length === 0) throw new BoatDataError('UPLOAD_EMPTY', 'the body is empty; send the export file, gzip-compressed', 400);
    const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    return bom ? bytes.subarray(3) : bytes;
}

/** What the headers alone rule out: an unknown encoding, a declared size over the cap. Answers the encoding. */
function checkBeforeReading(headers: UploadHeaders, maxBytes: number): string {
    const encoding = headerValue(headers['content-encoding']).toLowerCase();
    if (encoding !== '' && encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
        throw new BoatDataError('UPLOAD_ENCODING', `Content-Encoding "${encoding}" is not supported; send the export gzip-compressed (Content-Encoding: gzip)`, 400);
    }
    const declared = Number(headerValue(headers['content-length']) || 0);
    if (declared > maxBytes) {
        throw new BoatDataError(
            'UPLOAD_TOO_LARGE',
            `the upload is ${formatMegabytes(declared)}, more than the ${formatMegabytes(maxBytes)} this ingest accepts; send incremental exports or raise the ingest node's limit`,
            413,
        );
    }
    return encoding;
}

function tooLarge(maxBytes: number): BoatDataError {
    return new BoatDataError(
        'UPLOAD_TOO_LARGE',
        `the export is larger than the ${formatMegabytes(maxBytes)} this ingest accepts (decompressed); send incremental exports or raise the ingest node's limit`,
        413,
    );
}

function formatMegabytes(bytes: number): string {
    const mb = bytes / (1024 * 1024);
    return mb >= 1 ? `${Math.round(mb * 10) / 10} MB` : `${bytes} bytes`;
}

function headerValue(value: string | string[] | undefined): string {
    return (Array.isArray(value) ? value.join(',') : value ?? '').trim();
}

function* slices(buffer: Buffer): Generator<Buffer> {
    for (let at = 0; at < buffer.length; at += FEED_BYTES) yield buffer.subarray(at, at + FEED_BYTES);
}

function cutOff(err?: Error): BoatDataError {
    const detail = err ? ` (${err.message})` : '';
    return new BoatDataError('UPLOAD_CUT_OFF', `the upload was cut off before it ended${detail}; the boat will send it again`, 400);
}

function gunzipFailed(err: NodeJS.ErrnoException): BoatDataError {
    if (err.code === 'Z_BUF_ERROR' || /unexpected end/i.test(err.message)) {
        return new BoatDataError('UPLOAD_TRUNCATED', 'the gzip body ends before the export does (truncated upload)', 400);
    }
    return new BoatDataError('UPLOAD_NOT_GZIP', `the body is not valid gzip data (${err.message})`, 400);
}

/**
 * Reads the body, gunzipping it when it starts with gzip's magic bytes, and
 * stops the moment more than `maxBytes` come out. After a refusal the rest
 * of the stream flows on into nothing; how much of it to take before cutting
 * the connection is the HTTP side's choice (see import-route.ts).
 */
function readCapped(source: Readable, declaredGzip: boolean, maxBytes: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let total = 0;
        let gunzip: zlib.Gunzip | undefined;
        let started = false;
        let finished = false;

        const stop = (err?: Error) => {
            if (finished) return;
            finished = true;
            source.off('data', onData);
            gunzip?.destroy();
            if (err) {
                source.resume();
                return reject(err);
            }
            resolve(Buffer.concat(chunks, total));
        };
        const keep = (chunk: Buffer) => {
            total += chunk.length;
            if (total > maxBytes) return stop(tooLarge(maxBytes));
            chunks.push(chunk);
        };
        const startGunzip = () => {
            const inflating = zlib.createGunzip();
            inflating.on('data', keep);
            inflating.once('end', () => stop());
            inflating.once('error', (err) => stop(gunzipFailed(err)));
            // Backpressure: the request waits while gunzip catches up, so the cap can stop it early.
            inflating.on('drain', () => source.resume());
            return inflating;
        };
        const onData = (data: Buffer | string) => {
            const chunk = Buffer.from(data);
            if (!started) {
                started = true;
                const gzipped = chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b;
                if (declaredGzip && !gzipped) return stop(new BoatDataError('UPLOAD_NOT_GZIP', 'the body is not gzip data, although Content-Encoding says gzip', 400));
                if (gzipped) gunzip = startGunzip();
            }
            if (!gunzip) return keep(chunk);
            if (!gunzip.write(chunk)) source.pause();
        };
        source.on('data', onData);
        source.once('end', () => (gunzip ? gunzip.end() : stop()));
        source.once('error', (err) => stop(cutOff(err)));
        source.once('close', () => {
            if (!source.readableEnded) stop(cutOff());
        });
    });
}
