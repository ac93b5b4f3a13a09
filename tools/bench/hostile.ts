import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { buildDemoBoat } from '../demo-boat';
import { packageRoot, RunningNodeRed, startNodeRed } from '../node-red-runtime';
import { BenchFigure } from './figures';

// What hostile bodies cost in memory, on started Node-REDs: the boat flow on a demo boat, the central flow in open
// mode. The tests (test/hostile/, test/ingest/central-*.test.ts) bound these loosely, far from a busy machine's
// figures; the tight targets are here, where a figure over one is reported, not failed.

const MB = 1024 * 1024;
const INSTALLATION = 'b0a7b0a7b0a7b0a7';

function flow(name: string): unknown[] {
    return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'flows', `${name}.json`), 'utf8'));
}

function rssMb(pid: number): number {
    return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
}

/** The peak RSS (sampled every 20 ms) while `work` runs. */
async function peakDuring(pid: number, work: () => Promise<unknown>): Promise<number> {
    let peak = rssMb(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
    try {
        await work();
    } finally {
        clearInterval(sampler);
    }
    return Math.max(peak, rssMb(pid));
}

const settled = async (pid: number) => {
    await new Promise((r) => setTimeout(r, 1500));
    return rssMb(pid);
};

/** Streams `total` bytes (from `chunk`, repeated) as one POST, until the server answers or closes; resolves with the status. */
function stream(nodeRed: RunningNodeRed, route: string, headers: Record<string, string>, chunk: Buffer, total: number): Promise<number | undefined> {
    return new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: nodeRed.port, method: 'POST', path: route, headers: { Host: `127.0.0.1:${nodeRed.port}`, ...headers }, agent: false });
        let sent = 0;
        let status: number | undefined;
        const done = () => {
            req.destroy();
            resolve(status);
        };
        req.on('response', (res) => {
            status = res.statusCode;
            res.resume();
            res.on('end', done);
        });
        req.on('error', () => setTimeout(done, 300));
        const pump = () => {
            while (sent < total && !req.destroyed) {
                sent += chunk.length;
                if (!req.write(chunk)) return void req.once('drain', pump);
            }
            if (!req.destroyed) req.end();
        };
        pump();
    });
}

function figure(name: string, value: number, limit: number): BenchFigure {
    return { name, value: Math.round(value * 10) / 10, unit: 'MB', target: `≤ ${limit} MB`, pass: value <= limit };
}

/** An export whose one boatlog entry holds a string of `megabytes` MB, gzip'd (one member per part): small on the wire, huge once read. */
function hugeStringExport(exportId: string, megabytes: number): Buffer {
    const head = `{"export_id":"${exportId}","installation_id":"${INSTALLATION}","tier":2,"format_version":"1.0","export_timestamp":"2026-01-01T00:00:00.000Z","mode":"incremental","data":{"boatlog":{"entry_count":1,"entries":[{"entry_id":1,"note":"`;
    const block = zlib.gzipSync(Buffer.alloc(MB, 'a'), { level: 9 });
    return Buffer.concat([zlib.gzipSync(head), ...Array.from({ length: megabytes }, () => block), zlib.gzipSync('"}]}}}')]);
}

export async function run(log: (line: string) => void): Promise<BenchFigure[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-bench-hostile-'));
    const running: RunningNodeRed[] = [];
    try {
        const figures: BenchFigure[] = [];
        const boat = await buildDemoBoat({ root: path.join(dir, 'boat'), mediaDir: path.join(dir, 'media'), backupDir: path.join(dir, 'backups'), boatlogRows: 50, telemetryRows: 50 });
        const boatNodeRed = await startNodeRed({
            userDir: path.join(dir, 'boat-node-red'),
            flows: flow('boat'),
            env: { D3KOS_ROOT: boat.root, D3KOS_MEDIA_DIR: boat.mediaDir, D3KOS_BACKUP_DIR: boat.backupDir, D3KOS_CENTRAL_URL: '', D3KOS_QUEUE_POLL_S: '3600' },
            quiet: true,
        });
        running.push(boatNodeRed);
        const json = { 'Content-Type': 'application/json' };
        for (const route of ['/export/generate', '/api/backup/restore', '/export/process-queue']) await stream(boatNodeRed, route, json, Buffer.from('{"x":1}'), 7);
        let before = await settled(boatNodeRed.pid);
        const chunk = Buffer.alloc(64 * 1024, '[');
        let peak = await peakDuring(boatNodeRed.pid, () =>
            Promise.all(['/export/generate', '/api/backup/restore', '/export/process-queue'].map((route) => stream(boatNodeRed, route, { ...json, 'Transfer-Encoding': 'chunked' }, chunk, 2048 * MB))),
        );
        log(`boat: three 2 GB chunked bodies at once, RSS ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB at peak`);
        figures.push(figure('boat: peak RSS growth, three 2 GB chunked bodies at once', peak - before, 20));
        await boatNodeRed.stop();
        running.pop();

        const central = await startNodeRed({
            userDir: path.join(dir, 'central-node-red'),
            flows: flow('central-ingest'),
            env: { D3KOS_INGEST_MODE: 'open', D3KOS_INGEST_DIR: path.join(dir, 'central') },
            quiet: true,
        });
        running.push(central);
        const importRoute = '/api/v1/data/import';
        const post = (body: Buffer, token = INSTALLATION) =>
            fetch(`${central.url}${importRoute}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-encoding': 'gzip' }, body: new Uint8Array(body) }).then(
                (r) => r.text(),
                // Refused and closed while the body was still going out: what the bench watches is the memory.
                () => 'closed',
            );

        const huge = hugeStringExport('export_huge', 200);
        await post(huge);
        before = await settled(central.pid);
        peak = await peakDuring(central.pid, () => Promise.all([1, 2, 3].map((i) => post(hugeStringExport(`export_huge_${i}`, 200)))));
        log(`central: three uploads holding a 200 MB string, RSS ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB at peak`);
        figures.push(figure('central: peak RSS growth, three uploads each holding a 200 MB string', peak - before, 60));

        const member = zlib.gzipSync(Buffer.alloc(512 * MB), { level: 9 });
        const bomb = Buffer.concat(Array.from({ length: Math.ceil((10 * MB) / member.length) }, () => member));
        const eight = () => Promise.all(Array.from({ length: 8 }, () => post(bomb)));
        await eight();
        before = await settled(central.pid);
        peak = await peakDuring(central.pid, async () => {
            for (let round = 0; round < 3; round++) await eight();
        });
        const after = await settled(central.pid);
        log(`central: eight 10 MB gzip bombs at once, three times: RSS ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB at peak, ${after.toFixed(0)} MB after`);
        figures.push(figure('central: peak RSS growth, eight gzip bombs at once (×3)', peak - before, 150));
        figures.push(figure('central: RSS left after the gzip bombs', after - before, 20));

        before = await settled(central.pid);
        peak = await peakDuring(central.pid, () =>
            stream(central, importRoute, { authorization: 'Bearer not-a-boat', 'content-encoding': 'gzip', 'content-length': String(200 * MB) }, Buffer.alloc(64 * 1024), 200 * MB),
        );
        log(`central: a 200 MB upload with a wrong token, RSS ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB at peak`);
        figures.push(figure('central: peak RSS growth, a 200 MB upload with a wrong token', peak - before, 30));
        return figures;
    } finally {
        for (const nodeRed of running) await nodeRed.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
