import * as crypto from 'crypto';
import * as fs from 'fs';
import { readPlainText } from '../../lib/export/compressed-file';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { readLicense } from '../../lib/boat/license';
import { exportBoatData } from '../../lib/export/collect-export';
import type { FinishedExport } from '../../lib/export/export-file';
import { health, IngestSettings, receiveUpload } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { ExportQueue } from '../../lib/queue/export-queue';
import { UploadWorker } from '../../lib/upload/worker';
import { BROTLI_QUALITY, compressedSize, GZIP_LEVEL, UploadEncoding } from '../../lib/upload/encoding';
import { partBody } from '../../lib/upload/part-body';
import { appendBoatlogRows, buildDemoBoat, DemoBoat } from '../demo-boat';
import { BenchFigure } from './figures';

const DAYS_AT_SEA = 30;
const BOATLOG_ROWS_PER_DAY = 48;
const BACKLOG = 1000;

/**
 * Part 2, the sync queue: (a) a month at sea, one incremental export a day
 * with the central API out of reach, then the reconnection; (b) the gzip
 * ratio of a full export on the wire; (c) a backlog of 1,000 exports
 * uploaded to the real ingest over local HTTP; (d) the 1M + 100k-row
 * export's urgent and bulk parts on the wire, gzip -6 against brotli.
 */
export async function run(log: (line: string) => void): Promise<BenchFigure[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-bench-sync-'));
    const ingest = await startIngest(path.join(dir, 'central'));
    try {
        const only = process.env.D3KOS_BENCH_SYNC_ONLY;
        if (only === 'encodings') return await encodingsOnTheWire(dir, log);
        return [...(await monthAtSea(dir, ingest.url, log)), ...(await fullExportOnTheWire(dir, log)), ...(await backlog(dir, ingest.url, log)), ...(await encodingsOnTheWire(dir, log))];
    } finally {
        await ingest.close();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

async function monthAtSea(dir: string, centralUrl: string, log: (line: string) => void): Promise<BenchFigure[]> {
    const boat = await buildDemoBoat({ root: path.join(dir, 'at-sea') });
    let url = centralUrl;
    const { queue, worker, sent } = uploader(boat, () => url);
    // Ashore first: everything so far reaches the central side and the marks are set.
    await queue.enqueue(await exportBoatData(boat.layout, 'incremental'));
    await worker.process();
    sent.length = 0;

    url = 'http://127.0.0.1:9'; // nothing listens: connection refused, as far offshore
    let withoutSupersede = 0;
    let day = Date.parse('2026-12-01T03:00:00Z');
    let last: FinishedExport | null = null;
    for (let i = 0; i < DAYS_AT_SEA; i++, day += 86_400_000) {
        await appendBoatlogRows(boat.layout.boatlogDb, BOATLOG_ROWS_PER_DAY);
        last = await exportBoatData(boat.layout, 'incremental', new Date(day));
        // Stored as its uploads send it: what each would cost on the wire.
        withoutSupersede += (last.parts ?? [last]).reduce((n, p) => n + p.file_size_bytes, 0);
        await queue.enqueue(last);
        await worker.process();
    }
    const waiting = await queue.snapshot();
    log(`${DAYS_AT_SEA} daily incremental exports at sea: ${waiting.pending_count} left pending, ${sent.length} uploaded while out of reach`);

    url = centralUrl;
    await worker.process();
    const uploaded = sent.reduce((sum, bytes) => sum + bytes, 0);
    const newRows = JSON.parse(await readPlainText(last!.export_file)).data.boatlog.entries;
    const rowsGzip = gzipSync(JSON.stringify(newRows), { level: 6 }).length;
    log(`reconnected: ${sent.length} upload(s), ${uploaded} bytes; the ${newRows.length} new boatlog rows gzip to ${rowsGzip} bytes`);
    log(`without superseding, the queue would have sent ${withoutSupersede} bytes (${(withoutSupersede / rowsGzip).toFixed(1)}× the new rows)`);
    const ratio = uploaded / rowsGzip;
    return [
        {
            name: `${DAYS_AT_SEA} days at sea: bytes uploaded on reconnection`,
            value: uploaded,
            unit: 'bytes',
            reference: `gzip -6 of the ${newRows.length} new rows = ${rowsGzip} bytes`,
            ratio,
            target: '≤ 1.2×',
            pass: ratio <= 1.2,
        },
    ];
}

async function fullExportOnTheWire(dir: string, log: (line: string) => void): Promise<BenchFigure[]> {
    const boat = await buildDemoBoat({ root: path.join(dir, 'full'), telemetryRows: 100_000, boatlogRows: 10_000 });
    const exp = await exportBoatData(boat.layout, 'full');
    const server = await countingServer();
    try {
        const { queue, worker, sent } = uploader(boat, () => server.url);
        await queue.enqueue(exp);
        await worker.process();
        const raw = exp.plain_size_bytes ?? exp.file_size_bytes;
        const wire = sent.reduce((n, b) => n + b, 0);
        const ratio = raw / wire;
        log(`full export of 100,000 telemetry + 10,000 boatlog rows: ${raw} bytes raw, ${wire} bytes on the wire in ${sent.length} uploads (as stored, ${exp.encoding ?? 'plain'})`);
        return [{ name: 'full export upload size', value: wire, unit: 'bytes', reference: `raw export JSON = ${raw} bytes`, ratio, target: '≥ 5× smaller', pass: ratio >= 5 }];
    } finally {
        await server.close();
    }
}

/**
 * The bytes on the wire of a 1,000,000-telemetry + 100,000-boatlog full
 * export (its urgent and bulk uploads as the queue makes them) in gzip -6
 * and brotli, with the CPU time (every thread of the process: zlib works
 * in the thread pool) each costs.
 */
async function encodingsOnTheWire(dir: string, log: (line: string) => void): Promise<BenchFigure[]> {
    const boat = await buildDemoBoat({ root: path.join(dir, 'big'), telemetryRows: 1_000_000, boatlogRows: 100_000 });
    // Stored plain here, so each encoding compresses the same JSON.
    const exp = await exportBoatData(boat.layout, 'full', new Date(), 'plain');
    const { entries } = await new ExportQueue(boat.layout).enqueue(exp);
    const measure = async (encoding: UploadEncoding) => {
        const cpu = process.cpuUsage();
        let bytes = 0;
        for (const entry of entries) {
            const part = await partBody(entry);
            bytes += await compressedSize(part ? part.stream() : fs.createReadStream(entry.export_file), encoding);
        }
        const used = process.cpuUsage(cpu);
        return { bytes, cpuS: (used.user + used.system) / 1e6 };
    };
    const gzip = await measure('gzip');
    const br = await measure('br');
    log(
        `1M + 100k full export (${exp.file_size_bytes} bytes raw, ${entries.length} uploads): gzip -${GZIP_LEVEL} ${gzip.bytes} bytes in ${gzip.cpuS.toFixed(1)} s CPU, brotli q${BROTLI_QUALITY} ${br.bytes} bytes in ${br.cpuS.toFixed(1)} s CPU`,
    );
    const bytesRatio = br.bytes / gzip.bytes;
    const cpuRatio = br.cpuS / gzip.cpuS;
    return [
        {
            name: 'brotli bytes on the wire, 1M + 100k export',
            value: br.bytes,
            unit: 'bytes',
            reference: `gzip -${GZIP_LEVEL} = ${gzip.bytes} bytes`,
            ratio: bytesRatio,
            target: '≤ 0.85×',
            pass: bytesRatio <= 0.85,
        },
        {
            name: 'brotli CPU time, 1M + 100k export',
            value: br.cpuS,
            unit: 's',
            reference: `gzip -${GZIP_LEVEL} = ${gzip.cpuS.toFixed(2)} s`,
            ratio: cpuRatio,
            target: '≤ 1.5×',
            pass: cpuRatio <= 1.5,
        },
    ];
}

async function backlog(dir: string, centralUrl: string, log: (line: string) => void): Promise<BenchFigure[]> {
    const boat = await buildDemoBoat({ root: path.join(dir, 'backlog'), boatlogRows: 20, telemetryRows: 20, captureRows: 5, mediaFiles: 2 });
    const template = await exportBoatData(boat.layout, 'full', new Date(), 'plain');
    const text = fs.readFileSync(template.export_file, 'utf8');
    fs.rmSync(template.export_file);
    // A thousand distinct exports of one small boat: the ingest stores each export_id once.
    const exports: FinishedExport[] = [];
    for (let i = 0; i < BACKLOG; i++) {
        const exportId = `${template.export_id.slice(0, -4)}${i.toString(16).padStart(4, '0')}`;
        const body = text.split(template.export_id).join(exportId);
        const file = path.join(boat.layout.exportFilesDir, `${exportId}.json`);
        fs.writeFileSync(file, body);
        exports.push({ ...template, export_id: exportId, export_file: file, sha256: crypto.createHash('sha256').update(body).digest('hex'), file_size_bytes: Buffer.byteLength(body) });
    }
    const { queue, worker, sent } = uploader(boat, () => centralUrl);
    await Promise.all(exports.map((exp) => queue.enqueue(exp)));
    const started = process.hrtime.bigint();
    await worker.process();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const done = await queue.snapshot();
    const rawMb = (BACKLOG * Buffer.byteLength(text)) / 1024 / 1024;
    log(`${BACKLOG} exports of ${Buffer.byteLength(text)} bytes: ${sent.length} uploaded in ${seconds.toFixed(1)} s (${rawMb.toFixed(1)} MB raw), ${done.pending_count} left`);
    return [
        {
            name: `backlog of ${BACKLOG} small exports to the real ingest`,
            value: BACKLOG / seconds,
            unit: 'exports/s',
            reference: `${seconds.toFixed(1)} s for all, ${(rawMb / seconds).toFixed(2)} MB/s of export JSON`,
        },
    ];
}

/** The queue and its worker on a boat, remembering the bytes of each upload sent. */
function uploader(boat: DemoBoat, centralUrl: () => string) {
    const sent: number[] = [];
    const queue = new ExportQueue(boat.layout);
    const worker = new UploadWorker({
        queue,
        watermarksFile: boat.layout.watermarksFile,
        centralUrl,
        license: () => readLicense(boat.layout.license),
        deviceToken: () => undefined,
        healthTimeoutMs: 2000,
        onAttempt: (report) => report.outcome === 'completed' && sent.push(report.bytes_sent),
    });
    return { queue, worker, sent };
}

/** The central ingest of this package, served over plain local HTTP as its http-in nodes would. */
async function startIngest(dataDir: string): Promise<{ url: string; close: () => Promise<void> }> {
    const store = await IngestStore.open(dataDir);
    const settings: IngestSettings = { dataDir, mode: 'open', maxBodyBytes: 256 * 1024 * 1024 };
    const server = await listen(async (req, res) => {
        try {
            if (req.method === 'GET' && req.url === '/api/v1/health') return answer(res, 200, await health(store, settings));
            if (req.method === 'POST' && req.url === '/api/v1/data/import') return answer(res, 200, await receiveUpload(store, settings, { headers: req.headers as any, body: req }));
            answer(res, 404, { success: false, error: 'no such route' });
        } catch (err) {
            answer(res, (err as { statusCode?: number }).statusCode ?? 500, { success: false, error: (err as Error).message });
        }
    });
    return {
        url: server.url,
        close: async () => {
            await server.close();
            await store.close();
        },
    };
}

/** A server that only counts: for the size on the wire of one upload. */
function countingServer() {
    return listen((req, res) => {
        if (req.method === 'GET') return answer(res, 200, { status: 'ok' });
        req.resume();
        req.on('end', () => answer(res, 200, { status: 'success', import_id: 'counted', records_imported: 0 }));
    });
}

async function listen(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => {
            server.closeAllConnections();
            return new Promise((resolve) => server.close(() => resolve()));
        },
    };
}

function answer(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
