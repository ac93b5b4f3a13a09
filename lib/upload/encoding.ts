import { Readable, Transform, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import * as zlib from 'zlib';

export type UploadEncoding = 'br' | 'gzip';

/**
 * Brotli at quality 2 with a 256 kB window, in text mode. On the 158 MB
 * export of a 1M + 100k-row boat (npm run bench -- sync; docs/link.md):
 * 0.72× gzip -6's bytes for 0.6× its CPU. Quality 4 saves another 4 % of
 * bytes for 1.6× quality 2's CPU, which the export pays as it is written
 * (exports are stored compressed); quality 1 loses the saving over gzip. The
 * small window keeps the Pi's and the central side's memory low.
 */
export const BROTLI_QUALITY = 2;
export const BROTLI_WINDOW_BITS = 18;
export const GZIP_LEVEL = 6;
/** Output pieces of 64 kB rather than zlib's 16 kB: a quarter of the callbacks and file writes on the event loop. */
const CHUNK_SIZE = 64 * 1024;

export function compressor(encoding: UploadEncoding): Transform {
    if (encoding === 'br') {
        return zlib.createBrotliCompress({
            chunkSize: CHUNK_SIZE,
            params: {
                [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
                [zlib.constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
                [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
            },
        });
    }
    return zlib.createGzip({ level: GZIP_LEVEL, chunkSize: CHUNK_SIZE });
}

/** The encoding to use with a central side: br where it says it decodes it, else gzip (every central does). */
export function chooseEncoding(accepted: readonly string[] | undefined): UploadEncoding {
    return accepted?.map((e) => e.toLowerCase()).includes('br') ? 'br' : 'gzip';
}

/** How many bytes a body is once compressed (the same settings give the same bytes), without keeping them. */
export async function compressedSize(source: Readable, encoding: UploadEncoding): Promise<number> {
    let bytes = 0;
    await pipeline(
        source,
        compressor(encoding),
        new Writable({
            write(chunk: Buffer, _encoding, callback) {
                bytes += chunk.length;
                callback();
            },
        }),
    );
    return bytes;
}
