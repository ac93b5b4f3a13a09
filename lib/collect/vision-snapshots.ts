import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode } from '../errors';
import { Collector, writeRowCategory } from './context';

export const MEDIA_EXTENSIONS: Record<string, 'photo' | 'video'> = {
    '.jpg': 'photo',
    '.jpeg': 'photo',
    '.png': 'photo',
    '.mp4': 'video',
    '.h264': 'video',
    '.mkv': 'video',
};

/**
 * What the camera recorded, as metadata read from the file system: name
 * within the media folder, kind, size and time. Never the bytes, never the
 * path on disk. Symlinks are not followed, so nothing outside the folder is
 * listed. Incremental exports list files modified after the acknowledged mark.
 *
 * Files modified since the walk began are left for the next export: a
 * recording still being written keeps getting newer, and taking its time as
 * the mark would pass over a capture saved meanwhile in a folder the walk had
 * already read. The cutoff sits a little before the walk's start because file
 * systems stamp times coarsely (a kernel tick on ext4, 2 s on FAT).
 */
export const MTIME_SLACK_MS = 2000;

export const collectVisionSnapshots: Collector = (context, out) =>
    writeRowCategory('marine_vision_snapshots', out, async (entries) => {
        const after = context.since?.modified_ms ?? -1;
        const before = Date.now() - MTIME_SLACK_MS;
        let newest: number | undefined;
        let batch: string[] = [];
        const flush = async () => {
            await entries.add(batch.join(','), batch.length);
            batch = [];
        };
        const walk = async (dir: string, relative: string): Promise<void> => {
            let folder;
            try {
                folder = await fs.opendir(dir);
            } catch (err) {
                if (errorCode(err) === 'ENOENT' && relative === '') return;
                throw err;
            }
            for await (const item of folder) {
                const name = relative ? `${relative}/${item.name}` : item.name;
                if (item.isDirectory()) {
                    await walk(path.join(dir, item.name), name);
                    continue;
                }
                if (!item.isFile()) continue; // symlinks, sockets, devices
                const kind = MEDIA_EXTENSIONS[path.extname(item.name).toLowerCase()];
                if (!kind) continue;
                const stat = await fs.lstat(path.join(dir, item.name)).catch(() => null);
                if (!stat || stat.mtimeMs <= after || stat.mtimeMs >= before) continue;
                newest = Math.max(newest ?? 0, stat.mtimeMs);
                batch.push(JSON.stringify({ filename: name, type: kind, size_bytes: stat.size, modified_at: stat.mtime.toISOString() }));
                if (batch.length >= 1000) await flush();
            }
        };
        await walk(context.layout.mediaDir, '');
        await flush();
        return newest === undefined ? {} : { watermark: { modified_ms: newest } };
    });
