import * as crypto from 'crypto';
import * as path from 'path';
import * as zlib from 'zlib';
import { exportBoatData } from '../../lib/export/collect-export';
import type { ExportMode } from '../../lib/export/export-file';
import { buildDemoBoat, DemoBoat, DemoBoatOptions } from '../../tools/demo-boat';
import { readExport } from '../support/exports';

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
    // Stored plain: the ingest is tested with the whole export in one body.
    const finished = await exportBoatData(boat.layout, mode, new Date(), 'plain');
    const text = readExport(finished.export_file).text;
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

/** Gzips what `parts` yields, a piece at a time, so a test can build a body that inflates far past its memory. */
export async function gzipOf(parts: Iterable<string | Buffer>, level = 6): Promise<Buffer> {
    const gzip = zlib.createGzip({ level });
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = new Promise((resolve) => gzip.once('end', resolve));
    for (const part of parts) {
        if (!gzip.write(part)) await new Promise((resolve) => gzip.once('drain', resolve));
    }
    gzip.end();
    await done;
    return Buffer.concat(chunks);
}

/** An export of `installationId` whose one boatlog entry holds a string of `megabytes` MB. */
export function* exportWithHugeString(installationId: string, exportId: string, megabytes: number): Generator<string | Buffer> {
    yield `{"export_id":"${exportId}","installation_id":"${installationId}","tier":2,"format_version":"1.0","export_timestamp":"2026-01-01T00:00:00.000Z","mode":"full","data":{"boatlog":{"entries":[{"entry_id":1,"note":"`;
    const mb = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < megabytes; i++) yield mb;
    yield `"}]}}}`;
}

/** A minimal valid export: every category, `rows` boatlog entries of about `rowBytes` bytes each. */
export function smallExport(installationId: string, exportId: string, rows = 3, rowBytes = 40, timestamp = '2026-01-01T00:00:00.000Z'): string {
    // Notes of random hex, so the export compresses as a real one does rather than as a bomb.
    const entries = Array.from({ length: rows }, (_, i) => ({ entry_id: i + 1, note: crypto.randomBytes(Math.max(1, Math.floor((rowBytes - 30) / 2))).toString('hex') }));
    const data: Record<string, unknown> = {};
    for (const key of ['engine_benchmark', 'marine_vision_captures', 'marine_vision_snapshots', 'qr_codes', 'system_alerts', 'telemetry']) data[key] = { entry_count: 0, entries: [] };
    data.boatlog = { entry_count: rows, entries };
    data.settings = { entry_count: 0, data: { units: 'metric' } };
    data.onboarding = { entry_count: 0, data: {} };
    return JSON.stringify({ export_id: exportId, installation_id: installationId, tier: 2, format_version: '1.0', export_timestamp: timestamp, mode: 'incremental', data });
}
