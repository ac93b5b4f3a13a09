import { promises as fs, constants as fsConstants } from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';

/**
 * Writes a file so that a power cut at any instant leaves either the old file
 * or the new one under the final name, never a torn mix: temp file beside the
 * target, fsync, rename, fsync of the folder.
 */
export async function writeFileAtomic(target: string, data: string | Buffer, options: { mode?: number } = {}): Promise<void> {
    const dir = path.dirname(target);
    await fs.mkdir(dir, { recursive: true });
    const temp = tempPathFor(target);
    let handle: fs.FileHandle | undefined;
    try {
        handle = await fs.open(temp, 'wx', options.mode ?? 0o644);
        await handle.writeFile(data);
        await handle.sync();
        await handle.close();
        handle = undefined;
        await fs.rename(temp, target);
        await syncFolder(dir);
    } catch (err) {
        if (handle) await handle.close().catch(() => undefined);
        await fs.rm(temp, { force: true }).catch(() => undefined);
        throw err;
    }
}

export async function writeJsonAtomic(target: string, value: unknown, options: { mode?: number } = {}): Promise<void> {
    await writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n', options);
}

/** A unique temp name in the target's folder, so the final rename never crosses file systems. */
export function tempPathFor(target: string): string {
    return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
}

/** Makes a rename durable: without this a power cut can forget the rename. */
export async function syncFolder(dir: string): Promise<void> {
    let handle: fs.FileHandle | undefined;
    try {
        handle = await fs.open(dir, fsConstants.O_RDONLY);
        await handle.sync();
    } catch {
        // Some file systems refuse fsync on folders; the rename itself is still atomic.
    } finally {
        await handle?.close().catch(() => undefined);
    }
}

export async function fileExists(file: string): Promise<boolean> {
    try {
        await fs.access(file);
        return true;
    } catch {
        return false;
    }
}
