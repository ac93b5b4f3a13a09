import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { exportBoatData } from '../../lib/export/collect-export';
import type { ExportMode } from '../../lib/export/export-file';
import { buildDemoBoat, DemoBoat, DemoBoatOptions } from '../../tools/demo-boat';

// Real exports of demo boats, gzip-compressed as the boat's sync queue sends them.

export interface ExportUpload {
    export_id: string;
    json: any;
    text: string;
    gzip: Buffer;
}

export async function demoBoatIn(dir: string, name: string, options: Partial<DemoBoatOptions> = {}): Promise<DemoBoat> {
    return buildDemoBoat({ root: path.join(dir, name), mediaDir: path.join(dir, `${name}-media`), ...options });
}

export async function exportUpload(boat: DemoBoat, mode: ExportMode = 'full'): Promise<ExportUpload> {
    const finished = await exportBoatData(boat.layout, mode);
    const text = fs.readFileSync(finished.export_file, 'utf8');
    return { export_id: finished.export_id, json: JSON.parse(text), text, gzip: zlib.gzipSync(text) };
}

/** An export changed by `edit`, with its own gzip body. */
export function alteredUpload(upload: ExportUpload, edit: (json: any) => void): ExportUpload {
    const json = JSON.parse(upload.text);
    edit(json);
    const text = JSON.stringify(json);
    return { export_id: json.export_id, json, text, gzip: zlib.gzipSync(text) };
}

/** The headers the boat's sync queue sends. */
export function boatHeaders(upload: ExportUpload, bearer: string): Record<string, string> {
    return {
        authorization: `Bearer ${bearer}`,
        'idempotency-key': upload.export_id,
        'content-encoding': 'gzip',
        'content-type': 'application/json',
    };
}

/**
 * A gzip bomb: `megabytes` of zeros compressed to about a two-hundredth of that,
 * built a megabyte at a time so the test itself never holds the inflated size.
 */
export async function gzipBomb(megabytes: number): Promise<Buffer> {
    const gzip = zlib.createGzip({ level: 1 });
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = new Promise((resolve) => gzip.once('end', resolve));
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < megabytes; i++) {
        if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
    }
    gzip.end();
    await done;
    return Buffer.concat(chunks);
}
