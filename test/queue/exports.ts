import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { boatLayout, BoatLayout } from '../../lib/boat/layout';
import type { ExportMode, FinishedExport } from '../../lib/export/export-file';
import type { Watermarks } from '../../lib/export/watermarks';

let counter = 0;

/** A boat folder with only what the queue needs. */
export function queueLayout(root: string): BoatLayout {
    return boatLayout({ root, mediaDir: path.join(root, 'media') });
}

/**
 * A small real export file and its FinishedExport, as the export node hands
 * it on: the queue tests need many, quickly, with chosen times and modes.
 */
export function writeExport(layout: BoatLayout, options: { mode?: ExportMode; createdAt?: Date; watermarks?: Watermarks; body?: string } = {}): FinishedExport {
    const created = options.createdAt ?? new Date();
    const iso = created.toISOString();
    const stamp = iso.slice(0, 19).replace(/[-:]/g, '').replace('T', '_') + '_' + iso.slice(20, 23);
    const exportId = `export_${stamp}_${(counter++ % 65536).toString(16).padStart(4, '0')}`;
    const file = path.join(layout.exportFilesDir, `${exportId}.json`);
    const text =
        options.body ??
        JSON.stringify({ export_id: exportId, installation_id: 'd3c0de5eab0a7001', tier: 2, format_version: '1.0', timestamp: iso, export_timestamp: iso, mode: options.mode ?? 'full', data: {} }) +
            '\n';
    fs.mkdirSync(layout.exportFilesDir, { recursive: true });
    fs.writeFileSync(file, text);
    return {
        export_id: exportId,
        export_file: file,
        installation_id: 'd3c0de5eab0a7001',
        created_at: iso,
        tier: 2,
        mode: options.mode ?? 'full',
        category_count: 1,
        file_size_bytes: Buffer.byteLength(text),
        sha256: crypto.createHash('sha256').update(text).digest('hex'),
        statistics: { total_categories: 9, categories_with_data: 1, total_size_bytes: Buffer.byteLength(text) },
        watermarks: options.watermarks ?? {},
        categories: {},
    };
}

export function readQueue(layout: BoatLayout): any {
    return JSON.parse(fs.readFileSync(layout.queueFile, 'utf8'));
}

/**
 * A tiny real file system mounted on `dir`, for full-disk tests (mounting
 * needs root; the caller skips otherwise). Returns its unmount.
 */
export function mountTinyDisk(dir: string, size = '64k'): () => void {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    return () => execFileSync('umount', [dir]);
}

/** Fills the disk holding `dir` to the last page; removing the returned file frees it again. */
export function fillDisk(dir: string): string {
    const filler = path.join(dir, 'filler.bin');
    const fd = fs.openSync(filler, 'w');
    try {
        for (;;) fs.writeSync(fd, Buffer.alloc(4096));
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
        fs.closeSync(fd);
    }
    return filler;
}

export const canMount = process.getuid?.() === 0;
