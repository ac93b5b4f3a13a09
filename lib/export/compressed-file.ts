import { createHash, Hash } from 'crypto';
import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import { Readable, Transform, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import * as zlib from 'zlib';
import { compressor, UploadEncoding } from '../upload/encoding';

/** How an export file is stored: compressed as its upload will be sent, or plain JSON (older files, the old service's). */
export type StoredEncoding = UploadEncoding;

const EXTENSIONS: Record<StoredEncoding, string> = { br: '.json.br', gzip: '.json.gz' };

/** The file name of an export stored in an encoding (plain: `.json`). */
export function storedName(exportId: string, encoding: StoredEncoding | null): string {
    return encoding ? `${exportId}${EXTENSIONS[encoding]}` : `${exportId}.json`;
}

/** How a file named so is stored: br, gzip, or null for plain JSON. */
export function encodingOfName(name: string): StoredEncoding | null {
    if (name.endsWith(EXTENSIONS.br)) return 'br';
    if (name.endsWith(EXTENSIONS.gzip)) return 'gzip';
    return null;
}

/** The export id a stored file's name carries (`export_….json.br` → `export_…`). */
export function exportIdOfName(name: string): string {
    return name.replace(/\.json(\.br|\.gz)?$/, '');
}

function decompressor(encoding: StoredEncoding, options: { partial?: boolean } = {}): Transform {
    // A file cut at a flush point reads back up to that point when the end is flushed rather than required.
    if (encoding === 'br') return zlib.createBrotliDecompress(options.partial ? { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH } : {});
    return zlib.createGunzip(options.partial ? { finishFlush: zlib.constants.Z_SYNC_FLUSH } : {});
}

/** The JSON text of an export file, however it is stored, as a stream (never whole in memory). */
export function readPlain(file: string, encoding = encodingOfName(path.basename(file))): Readable {
    const source = createReadStream(file, { highWaterMark: 256 * 1024 });
    if (!encoding) return source;
    const plain = decompressor(encoding);
    source.on('error', (err) => plain.destroy(err));
    return source.pipe(plain);
}

/** The JSON text of an export file, whole (for small ones: the CSV of a day, a test, a bench). */
export async function readPlainText(file: string): Promise<string> {
    const pieces: Buffer[] = [];
    for await (const piece of readPlain(file) as AsyncIterable<Buffer>) pieces.push(piece);
    return Buffer.concat(pieces).toString('utf8');
}

/** Where a compressed file stood at a flush: its length, and the plain bytes that far. */
export interface FlushPoint {
    compressed: number;
    plain: number;
}

/** Compressed bytes waiting for the disk before a write waits for it: keeps a slow card from filling memory. */
const MAX_UNWRITTEN = 4 * 1024 * 1024;
/**
 * Plain text waiting for the compressor before a write waits for it: enough
 * that the rows go on being read and written out as JSON on the event loop
 * while the compressor works on the thread pool, and bounded.
 */
const MAX_UNCOMPRESSED = 2 * 1024 * 1024;

/**
 * A file written compressed as its text comes, in one compressor stream (so
 * the file is one valid br or gzip stream, as its upload is sent). The
 * compression runs on libuv's threads, off the event loop. A flush point can
 * be taken between pieces, and the file cut back to one: the text after it
 * is dropped (the stream up to it is decoded and compressed again, the rare
 * path of a source failing half-way).
 */
export class CompressedFile {
    private compressor!: Transform;
    private handle!: fs.FileHandle;
    /** Writes to the file in order; the first failure sticks. */
    private chain: Promise<void> = Promise.resolve();
    private failure: unknown = null;
    private unwritten = 0;
    private written = 0;
    private plain = 0;
    /** The sha256 of the stored bytes, taken as they go to the file (in order): the file is never read back for it. */
    private hash!: Hash;

    private constructor(
        readonly file: string,
        readonly encoding: StoredEncoding,
    ) {}

    /** Creates the file ('wx': never an existing one). */
    static async create(file: string, encoding: StoredEncoding): Promise<CompressedFile> {
        const stored = new CompressedFile(file, encoding);
        stored.attach(await fs.open(file, 'wx'), 0);
        return stored;
    }

    /** Plain bytes written so far. */
    get plainBytes(): number {
        return this.plain;
    }

    private attach(handle: fs.FileHandle, written: number): void {
        this.handle = handle;
        this.written = written;
        this.chain = Promise.resolve();
        this.failure = null;
        this.unwritten = 0;
        this.hash = createHash('sha256');
        this.compressor = compressor(this.encoding);
        const own = this.compressor;
        own.on('data', (chunk: Buffer) => {
            const at = this.written;
            this.written += chunk.length;
            this.hash.update(chunk);
            this.unwritten += chunk.length;
            this.chain = this.chain.then(async () => {
                if (this.failure) return;
                try {
                    await writeAll(handle, chunk, at);
                } catch (err) {
                    this.failure = err;
                } finally {
                    this.unwritten -= chunk.length;
                }
            });
        });
        own.on('error', (err) => {
            if (this.compressor === own) this.failure ??= err;
        });
    }

    /** Adds text; waits while the compressor or the disk is behind. */
    async write(text: string | Buffer): Promise<void> {
        this.throwIfFailed();
        const buffer = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
        if (buffer.length === 0) return;
        this.plain += buffer.length;
        if (!this.compressor.write(buffer) && this.compressor.writableLength > MAX_UNCOMPRESSED) await new Promise<void>((resolve) => this.compressor.once('drain', resolve));
        if (this.unwritten > MAX_UNWRITTEN) await this.chain;
        this.throwIfFailed();
    }

    /** Everything so far compressed and on its way to the file is written: the point the file can be cut back to. */
    async flushPoint(): Promise<FlushPoint> {
        this.throwIfFailed();
        const kind = this.encoding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH;
        await new Promise<void>((resolve) => (this.compressor as unknown as zlib.Zlib).flush(kind, () => resolve()));
        await new Promise((resolve) => setImmediate(resolve));
        await this.chain;
        this.throwIfFailed();
        return { compressed: this.written, plain: this.plain };
    }

    /**
     * Drops what came after `point`: the file is cut there, its stream so far
     * decoded and compressed again into a fresh file that takes its name, and
     * writing goes on from there.
     */
    async cutBack(point: FlushPoint): Promise<void> {
        const old = this.compressor;
        old.removeAllListeners('data');
        old.destroy();
        await this.chain;
        await this.handle.truncate(point.compressed);
        await this.handle.close();
        const redo = this.file.replace(/(\.json\.partial)$/, '.redo$1');
        const handle = await fs.open(redo, 'w');
        this.plain = 0;
        this.attach(handle, 0);
        try {
            const input = point.compressed > 0 ? createReadStream(this.file, { start: 0, end: point.compressed - 1 }).pipe(decompressor(this.encoding, { partial: true })) : Readable.from([]);
            for await (const chunk of input as AsyncIterable<Buffer>) await this.write(chunk);
            if (this.plain !== point.plain) throw new Error(`the export could not be cut back (${this.plain} of ${point.plain} bytes read back)`);
            await this.flushPoint();
            await fs.rename(redo, this.file);
        } catch (err) {
            this.compressor.destroy();
            await this.chain;
            await handle.close().catch(() => undefined);
            await fs.rm(redo, { force: true });
            throw err;
        }
    }

    /** Ends the stream, writes it out and syncs it to the card: the stored bytes' sha256 and size. */
    async finish(): Promise<{ sha256: string; size: number }> {
        this.throwIfFailed();
        const ended = new Promise<void>((resolve, reject) => {
            this.compressor.once('end', resolve);
            this.compressor.once('error', reject);
        });
        this.compressor.end();
        this.compressor.resume();
        await ended;
        await this.chain;
        this.throwIfFailed();
        await this.handle.sync();
        await this.handle.close();
        return { sha256: this.hash.digest('hex'), size: this.written };
    }

    /** Stops writing and closes the file (it stays on disk; the caller removes it). */
    async close(): Promise<void> {
        this.compressor.removeAllListeners('data');
        this.compressor.destroy();
        await this.chain;
        await this.handle.close().catch(() => undefined);
    }

    private throwIfFailed(): void {
        if (this.failure) throw this.failure;
    }
}

async function writeAll(handle: fs.FileHandle, buffer: Buffer, position: number): Promise<void> {
    let offset = 0;
    while (offset < buffer.length) {
        const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset, position + offset);
        offset += bytesWritten;
    }
}

/**
 * Writes `file` again in another encoding, as `target` (through a hidden
 * partial file, renamed into place once synced). What the first 415 from an
 * older central side costs, once per export.
 */
export async function transcode(file: string, from: StoredEncoding, to: StoredEncoding, target: string): Promise<void> {
    // Named as export partials are, so one a power cut leaves is swept with them.
    const partial = path.join(path.dirname(target), `.${path.basename(target).replace(/\.json\.(br|gz)$/, '.$1')}.json.partial`);
    try {
        await pipeline(readPlain(file, from), compressor(to), new FileSink(partial));
        await fs.rename(partial, target);
    } catch (err) {
        await fs.rm(partial, { force: true });
        throw err;
    }
}

/** A write stream that syncs the file before it says it is done. */
class FileSink extends Writable {
    private handle: fs.FileHandle | null = null;
    private position = 0;
    constructor(private readonly file: string) {
        super();
    }
    override _construct(callback: (err?: Error | null) => void): void {
        fs.open(this.file, 'w').then((h) => {
            this.handle = h;
            callback();
        }, callback);
    }
    override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
        const at = this.position;
        this.position += chunk.length;
        writeAll(this.handle!, chunk, at).then(() => callback(), callback);
    }
    override _final(callback: (err?: Error | null) => void): void {
        this.handle!.sync()
            .then(() => this.handle!.close())
            .then(() => callback(), callback);
    }
    override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
        if (this.handle)
            this.handle.close().then(
                () => callback(err),
                () => callback(err),
            );
        else callback(err);
    }
}
