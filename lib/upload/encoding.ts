import { Readable, Transform, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import * as zlib from 'zlib';

export type UploadEncoding = 'br' | 'gzip';

/**
 * Brotli at quality 4 with a 256 kB window, in text mode: about a third
 * fewer bytes than gzip -6 on export JSON for some 1.4× its CPU (npm run
 * bench -- sync; docs/link.md). Quality 5 saves a sixth more for twice
 * gzip's CPU; the small window keeps the Pi's and the central side's memory low.
 */
export const BROTLI_QUALITY = 4;
export const BROTLI_WINDOW_BITS = 18;
export const GZIP_LEVEL = 6;

export function compressor(encoding: UploadEncoding): Transform {
    if (encoding === 'br') {
        return zlib.createBrotliCompress({
            params: {
                [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
                [zlib.constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
                [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
            },
        });
    }
    return zlib.createGzip({ level: GZIP_LEVEL });
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
