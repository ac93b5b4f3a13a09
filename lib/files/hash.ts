import * as crypto from 'crypto';
import { withRegularFile } from './regular-file';

/** Hashing a large archive on a slow USB drive takes a while; a read that takes this long is a stuck one. */
const HASH_LIMIT_MS = 30 * 60 * 1000;

/**
 * A file's sha256 and size, read in 1 MB chunks so a large export or archive
 * never sits in memory whole. Only a regular file is read (a FIFO put in its
 * place would block the read for ever), within a time limit.
 */
export async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
    return withRegularFile(
        file,
        async (handle) => {
            const hash = crypto.createHash('sha256');
            const chunk = Buffer.allocUnsafe(1 << 20);
            let size = 0;
            for (;;) {
                const { bytesRead } = await handle.read(chunk, 0, chunk.length, size);
                if (bytesRead === 0) break;
                hash.update(chunk.subarray(0, bytesRead));
                size += bytesRead;
            }
            return { sha256: hash.digest('hex'), size };
        },
        { limitMs: HASH_LIMIT_MS },
    );
}
