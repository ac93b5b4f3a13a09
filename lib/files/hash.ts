import { createReadStream } from 'fs';
import * as crypto from 'crypto';

/** A file's sha256 and size, read in 1 MB chunks so a large export or archive never sits in memory whole. */
export async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
    const hash = crypto.createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
    }
    return { sha256: hash.digest('hex'), size };
}
