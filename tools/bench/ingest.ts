import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { Client } from 'pg';
import sqlite3 from 'sqlite3';
import { packageRoot, RunningNodeRed, startNodeRed } from '../node-red-runtime';
import { BenchFigure } from './figures';

/**
 * The central ingest as a fleet uses it, on each store: flows/central-ingest.json on started Node-REDs
 * (open mode), uploads gzip'd with the boat's headers over local HTTP. PostgreSQL runs when
 * D3KOS_TEST_DATABASE_URL names a server where this user may create databases (scripts/test-postgres.sh start).
 *
 * (a) a full export of 1,000,000 telemetry + 100,000 boatlog rows: import time, the server's peak RSS above
 *     idle, the longest /api/v1/health answer meanwhile;
 * (b) 300 boats × 10 incremental exports of 1,500 rows with 1, 8 and 32 uploaders: exports/s and p99;
 *     on PostgreSQL also two instances on one database, 32 uploaders spread over both;
 * (c) imports (8 uploaders) while 8 clients read deep pages of the 1.1 M-row boat: rate against the same
 *     without readers, health p99;
 * (d) at 10,000 boats (the rest filled in by SQL): /api/v1/installations' first page, a deep category page;
 * (e) imports (8 uploaders) while retention deletes 1,000,000 old telemetry rows, against the same without;
 * (f) a 5-row import of one boat sent 5 s into another boat's 5,000,000-row import: how long it waits.
 * (g) the same 10,000 boats on the fleet page: /api/v1/fleet/boats' first page, page 100 by its cursor, a search.
 * D3KOS_BENCH_INGEST=e,f runs only the sections named.
 */
export async function run(log: (line: string) => void): Promise<BenchFigure[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-bench-ingest-'));
    const figures: BenchFigure[] = [];
    const only = (process.env.D3KOS_BENCH_INGEST ?? '').split(',').filter(Boolean);
    const section = (name: string) => only.length === 0 || only.includes(name);
    try {
        const big = path.join(dir, 'full-export.json.gz');
        const bigBoat = 'b16b16b16b16b16b';
        if (section('a') || section('c') || section('d')) {
            log('writing a full export of 1,000,000 telemetry + 100,000 boatlog rows…');
            await writeFullExport(big, bigBoat, 1_000_000, 100_000);
            log(`  ${(fs.statSync(big).size / 1048576).toFixed(1)} MB gzip`);
        }
        log('building 300 boats × 10 incremental exports of 1,500 rows…');
        const fleet = fleetExports(300, 10, 1500);
        const tiny = path.join(dir, 'tiny-rows.json.gz');
        if (section('f')) {
            log('writing an export of 5,000,000 tiny rows…');
            await writeTinyRowsExport(tiny, 5_000_000);
            log(`  ${(fs.statSync(tiny).size / 1048576).toFixed(1)} MB gzip`);
        }

        const stores: Array<{ name: string; fresh: () => Promise<string> }> = [{ name: 'SQLite', fresh: async () => '' }];
        const admin = process.env.D3KOS_TEST_DATABASE_URL;
        if (admin) stores.push({ name: 'PostgreSQL', fresh: () => freshDatabase(admin) });
        else log('D3KOS_TEST_DATABASE_URL is not set: PostgreSQL is not measured (scripts/test-postgres.sh start)');

        for (const store of stores) {
            log(`\n-- ${store.name}`);
            if (section('e')) figures.push(...(await importsWhileRetention(store.name, store.fresh, path.join(dir, `${store.name}-retention`), fleet, log)));
            if (section('f')) figures.push(...(await smallBehindHuge(store.name, await store.fresh(), path.join(dir, `${store.name}-fair`), tiny, log)));
            if (!section('a') && !section('b') && !section('c') && !section('d')) continue;
            // (a), (c), (d) on one database that holds the big boat.
            const database = await store.fresh();
            const central = await startCentral(path.join(dir, `${store.name}-big`), database);
            try {
                figures.push(...(await fullImport(store.name, central, big, log)));
                figures.push(...(await readersAndImports(store.name, central, bigBoat, fleet, log)));
                figures.push(...(await tenThousandBoats(store.name, central, database, path.join(dir, `${store.name}-big`, 'central-data', 'ingest.db'), bigBoat, log)));
                figures.push(...(await fleetPage(store.name, central, database, path.join(dir, `${store.name}-big`, 'central-data'), log)));
            } finally {
                await central.stop();
            }
            // (b) on a fresh database.
            const fleetDb = await store.fresh();
            const one = await startCentral(path.join(dir, `${store.name}-fleet`), fleetDb);
            let sqlite32 = 0;
            try {
                let at = 0;
                for (const [uploaders, count] of [
                    [1, 300],
                    [8, 900],
                    [32, 1800],
                ] as const) {
                    const result = await uploadAll([one], fleet.slice(at, at + count), uploaders);
                    at += count;
                    log(`${uploaders} uploader(s): ${count} exports, ${result.rate.toFixed(1)} exports/s, p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms, ${result.retries} retried`);
                    figures.push({ name: `${store.name}: 1,500-row exports with ${uploaders} uploader(s)`, value: result.rate, unit: 'exports/s' });
                    figures.push({ name: `${store.name}: p99 of an upload with ${uploaders} uploader(s)`, value: result.p99, unit: 'ms' });
                    if (uploaders === 32) sqlite32 = result.rate;
                }
            } finally {
                await one.stop();
            }
            if (store.name === 'PostgreSQL') {
                const shared = await store.fresh();
                const pair = await Promise.all(['a', 'b'].map((name) => startCentral(path.join(dir, `pg-pair-${name}`), shared)));
                try {
                    const result = await uploadAll(pair, fleet.slice(0, 1800), 32);
                    log(
                        `two instances, 32 uploaders: 1800 exports, ${result.rate.toFixed(1)} exports/s, p99 ${result.p99.toFixed(0)} ms, ${result.retries} retried (one instance: ${sqlite32.toFixed(1)})`,
                    );
                    figures.push({
                        name: 'PostgreSQL: two instances together, 32 uploaders',
                        value: result.rate,
                        unit: 'exports/s',
                        reference: '37 exports/s of one SQLite instance at 32 uploaders (issue #13)',
                        ratio: result.rate / 37,
                        target: '≥ 1.5×',
                        pass: result.rate >= 1.5 * 37,
                    });
                    figures.push({ name: 'PostgreSQL: p99 of an upload, two instances, 32 uploaders', value: result.p99, unit: 'ms' });
                } finally {
                    for (const instance of pair) await instance.stop();
                }
            }
        }
        return figures;
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

function startCentral(dir: string, database: string, env: Record<string, string> = {}): Promise<RunningNodeRed> {
    const flows = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'flows', 'central-ingest.json'), 'utf8'));
    return startNodeRed({
        userDir: path.join(dir, 'node-red'),
        flows,
        env: { D3KOS_INGEST_MODE: 'open', D3KOS_INGEST_DIR: path.join(dir, 'central-data'), D3KOS_INGEST_DATABASE_URL: database, ...env },
        quiet: true,
    });
}

async function freshDatabase(admin: string): Promise<string> {
    const name = `d3kos_bench_${crypto.randomBytes(4).toString('hex')}`;
    const client = new Client({ connectionString: admin });
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
    await client.end();
    const url = new URL(admin);
    url.pathname = `/${name}`;
    return url.toString();
}

const CATEGORIES_BEFORE = ['engine_benchmark', 'marine_vision_captures', 'marine_vision_snapshots', 'qr_codes', 'system_alerts'];

function header(exportId: string, installation: string, mode: string, stamp: string): string {
    return `{"export_id":"${exportId}","installation_id":"${installation}","tier":2,"format_version":"1.0","timestamp":"${stamp}","export_timestamp":"${stamp}","mode":"${mode}","data":{`;
}

function telemetryRow(i: number): string {
    const t = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString();
    return `{"id":${i},"timestamp":"${t}","event_type":"engine","data":"{\\"rpm\\":${1500 + (i % 700)},\\"coolant_c\\":${70 + (i % 15)},\\"oil_kpa\\":${300 + (i % 40)}}"}`;
}

function boatlogRow(i: number): string {
    const t = new Date(Date.UTC(2024, 0, 1) + i * 60000).toISOString();
    return `{"entry_id":${i},"timestamp":"${t}","entry_type":"note","content":"Log entry ${i}: course ${i % 360}, ${(i % 90) / 10} kn","position":"${(50 + (i % 100) / 1000).toFixed(3)},${(-3 - (i % 100) / 1000).toFixed(3)}"}`;
}

/** A full export, gzip'd a thousand rows at a time straight to `file`. */
export async function writeFullExport(file: string, installation: string, telemetry: number, boatlog: number): Promise<void> {
    const gzip = zlib.createGzip({ level: 6 });
    const out = fs.createWriteStream(file);
    gzip.pipe(out);
    const write = async (text: string) => {
        if (!gzip.write(text)) await new Promise((resolve) => gzip.once('drain', resolve));
    };
    await write(header('export_full_bench', installation, 'full', '2026-06-01T00:00:00.000Z'));
    await write(`"engine_benchmark":{"entry_count":0,"entries":[]},"boatlog":{"entry_count":${boatlog},"entries":[`);
    for (let at = 1; at <= boatlog; at += 1000) {
        const rows: string[] = [];
        for (let i = at; i < at + 1000 && i <= boatlog; i++) rows.push(boatlogRow(i));
        await write((at > 1 ? ',' : '') + rows.join(','));
    }
    await write(']},"marine_vision_captures":{"entry_count":0,"entries":[]},"marine_vision_snapshots":{"entry_count":0,"entries":[]},"qr_codes":{"entry_count":0,"entries":[]},');
    await write('"settings":{"entry_count":0,"data":{"units":"metric"}},"system_alerts":{"entry_count":0,"entries":[]},"onboarding":{"entry_count":0,"data":{}},');
    await write(`"telemetry":{"entry_count":${telemetry},"entries":[`);
    for (let at = 1; at <= telemetry; at += 1000) {
        const rows: string[] = [];
        for (let i = at; i < at + 1000 && i <= telemetry; i++) rows.push(telemetryRow(i));
        await write((at > 1 ? ',' : '') + rows.join(','));
    }
    await write(']}}}');
    gzip.end();
    await new Promise<void>((resolve) => out.once('close', () => resolve()));
}

interface FleetExport {
    installation: string;
    id: string;
    gzip: Buffer;
}

/** Boat b's export k: 1,500 rows (1,400 telemetry, 100 boatlog) that follow the ones of export k-1. Ordered export by export. */
function fleetExports(boats: number, perBoat: number, rows: number): FleetExport[] {
    const exports: FleetExport[] = [];
    for (let k = 0; k < perBoat; k++) {
        for (let b = 0; b < boats; b++) {
            const installation = `f1ee7${String(b).padStart(11, '0')}`;
            const id = `export_fleet_${b}_${k}`;
            const stamp = new Date(Date.UTC(2026, 0, 1 + k)).toISOString();
            const logRows = Math.round(rows / 15);
            const parts = [header(id, installation, 'incremental', stamp), '"engine_benchmark":{"entry_count":0,"entries":[]},'];
            parts.push(`"boatlog":{"entry_count":${logRows},"entries":[${Array.from({ length: logRows }, (_, i) => boatlogRow(k * logRows + i + 1)).join(',')}]},`);
            for (const c of CATEGORIES_BEFORE.slice(1)) parts.push(`"${c}":{"entry_count":0,"entries":[]},`);
            parts.push('"settings":{"entry_count":0,"data":{"units":"metric"}},"onboarding":{"entry_count":0,"data":{}},');
            const telemetry = rows - logRows;
            parts.push(`"telemetry":{"entry_count":${telemetry},"entries":[${Array.from({ length: telemetry }, (_, i) => telemetryRow(k * telemetry + i + 1)).join(',')}]}}}`);
            exports.push({ installation, id, gzip: zlib.gzipSync(parts.join('')) });
        }
    }
    return exports;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function request(url: string, method: string, headers: Record<string, string>, body?: Buffer | fs.ReadStream): Promise<{ status: number; text: string; ms: number }> {
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers, agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ms: Number(process.hrtime.bigint() - started) / 1e6 }));
            res.on('error', reject);
        });
        req.on('error', reject);
        if (body instanceof fs.ReadStream) body.pipe(req);
        else req.end(body);
    });
}

function uploadHeaders(installation: string, id: string): Record<string, string> {
    return { authorization: `Bearer ${installation}`, 'content-encoding': 'gzip', 'content-type': 'application/json', 'idempotency-key': id };
}

function rssMb(pid: number): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
}

/** Asks /api/v1/health one request after another until stopped: every answer's time. */
function watchHealth(central: RunningNodeRed): { stop: () => Promise<number[]> } {
    const times: number[] = [];
    let running = true;
    const loop = (async () => {
        while (running) {
            const answer = await request(`${central.url}/api/v1/health`, 'GET', {});
            times.push(answer.ms);
            await new Promise((resolve) => setTimeout(resolve, 20));
        }
    })();
    return {
        stop: async () => {
            running = false;
            await loop;
            return times;
        },
    };
}

function percentile(values: number[], p: number): number {
    if (values.length === 0) return NaN;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function fullImport(store: string, central: RunningNodeRed, file: string, log: (line: string) => void): Promise<BenchFigure[]> {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idle = rssMb(central.pid);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(central.pid))), 20);
    const health = watchHealth(central);
    const answer = await request(
        `${central.url}/api/v1/data/import`,
        'POST',
        { ...uploadHeaders('b16b16b16b16b16b', 'export_full_bench'), 'content-length': String(fs.statSync(file).size) },
        fs.createReadStream(file),
    );
    clearInterval(sampler);
    const times = await health.stop();
    if (answer.status !== 200) throw new Error(`the full export was refused: ${answer.status} ${answer.text}`);
    const longest = Math.max(...times);
    log(`full export: ${(answer.ms / 1000).toFixed(1)} s, peak RSS ${peak.toFixed(0)} MB (idle ${idle.toFixed(0)} MB), longest health answer ${longest.toFixed(0)} ms of ${times.length}`);
    return [
        { name: `${store}: import of a 1,100,000-row full export`, value: answer.ms / 1000, unit: 's', target: '≤ 16.6 s', pass: answer.ms <= 16600 },
        { name: `${store}: peak RSS above idle during it`, value: peak - idle, unit: 'MB', target: '≤ 300 MB', pass: peak - idle <= 300 },
        { name: `${store}: longest /api/v1/health answer during it`, value: longest, unit: 'ms', target: '≤ 50 ms', pass: longest <= 50 },
    ];
}

async function uploadAll(instances: RunningNodeRed[], exports: FleetExport[], uploaders: number): Promise<{ rate: number; p50: number; p99: number; retries: number }> {
    const times: number[] = [];
    let next = 0;
    let retries = 0;
    const started = Date.now();
    await Promise.all(
        Array.from({ length: uploaders }, async (_, u) => {
            for (let i = next++; i < exports.length; i = next++) {
                const exp = exports[i];
                const central = instances[(i + u) % instances.length];
                // As the boat's queue does: a connection lost or a 503 is tried again (a keep-alive socket the server
                // closed as it was reused, say); the time counted is the one that answered.
                for (let tries = 1; ; tries++) {
                    const answer = await request(
                        `${central.url}/api/v1/data/import`,
                        'POST',
                        { ...uploadHeaders(exp.installation, exp.id), 'content-length': String(exp.gzip.length) },
                        exp.gzip,
                    ).catch((err: Error) => {
                        if (tries >= 5) throw err;
                        return undefined;
                    });
                    if (answer?.status === 200) {
                        times.push(answer.ms);
                        break;
                    }
                    if (answer && (answer.status !== 503 || tries >= 5)) throw new Error(`${exp.id}: ${answer.status} ${answer.text}`);
                    retries++;
                }
            }
        }),
    );
    return { rate: exports.length / ((Date.now() - started) / 1000), p50: percentile(times, 50), p99: percentile(times, 99), retries };
}

async function readersAndImports(store: string, central: RunningNodeRed, bigBoat: string, fleet: FleetExport[], log: (line: string) => void): Promise<BenchFigure[]> {
    const batch = 400;
    const quiet = await uploadAll([central], fleet.slice(0, batch), 8);
    let reading = true;
    let reads = 0;
    const readTimes: number[] = [];
    const readers = Array.from({ length: 8 }, async () => {
        while (reading) {
            // A deep page anywhere in the boat's 1.1 M rows, by arrival position.
            const after = Math.floor(Math.random() * 1_050_000);
            const page = await request(`${central.url}/api/v1/installations/${bigBoat}/telemetry?after=${after}&limit=1000`, 'GET', {});
            if (page.status !== 200) throw new Error(`a deep page: ${page.status} ${page.text.slice(0, 200)}`);
            readTimes.push(page.ms);
            reads++;
        }
    });
    const health = watchHealth(central);
    const busy = await uploadAll([central], fleet.slice(batch, 2 * batch), 8);
    reading = false;
    await Promise.all(readers);
    const healthTimes = await health.stop();
    const share = busy.rate / quiet.rate;
    log(
        `8 uploaders: ${quiet.rate.toFixed(1)} exports/s alone, ${busy.rate.toFixed(1)} with 8 readers (${reads} deep pages, p50 ${percentile(readTimes, 50).toFixed(0)} ms); health p99 ${percentile(healthTimes, 99).toFixed(0)} ms`,
    );
    return [
        {
            name: `${store}: imports while 8 clients read deep pages`,
            value: busy.rate,
            unit: 'exports/s',
            reference: `${quiet.rate.toFixed(1)} exports/s without readers`,
            ratio: share,
            target: '≥ 0.8×',
            pass: share >= 0.8,
        },
        { name: `${store}: /api/v1/health p99 meanwhile`, value: percentile(healthTimes, 99), unit: 'ms', target: '≤ 100 ms', pass: percentile(healthTimes, 99) <= 100 },
        { name: `${store}: a deep page of 1,000 rows meanwhile, p50`, value: percentile(readTimes, 50), unit: 'ms' },
    ];
}

const FILLED_COLUMNS = 'installation_id, export_count, records_imported, first_import_at, last_import_at, last_export_id';

/** Fills the database up to 10,000 boats of 100 boatlog rows each, by SQL (imports would take most of an hour here). */
async function fillFleet(database: string, sqliteFile: string): Promise<void> {
    const installations = `SELECT printf('%016x', 4096 + i) AS id, i FROM series`;
    if (database) {
        const client = new Client({ connectionString: database });
        await client.connect();
        await client.query(
            `INSERT INTO installations (${FILLED_COLUMNS}) SELECT lpad(to_hex(4096 + i), 16, '0'), 1, 100, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'export_filled' FROM generate_series(1, 10000) AS i ON CONFLICT DO NOTHING`,
        );
        await client.query(`INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at)
            SELECT lpad(to_hex(4096 + i), 16, '0'), 'boatlog', j::text, '{"entry_id":' || j || ',"content":"filled row"}', 40, 'export_filled', '2026-01-01' FROM generate_series(1, 10000) AS i, generate_series(1, 100) AS j`);
        await client.query('ANALYZE');
        await client.end();
        return;
    }
    await new Promise<void>((resolve, reject) => {
        const db = new sqlite3.Database(sqliteFile, (err) => {
            if (err) return reject(err);
            db.exec(
                `PRAGMA busy_timeout = 60000; BEGIN IMMEDIATE;
                 WITH RECURSIVE series(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM series WHERE i < 10000)
                 INSERT OR IGNORE INTO installations (${FILLED_COLUMNS}) SELECT id, 1, 100, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'export_filled' FROM (${installations});
                 WITH RECURSIVE series(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM series WHERE i < 10000), rows(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM rows WHERE j < 100)
                 INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at)
                 SELECT printf('%016x', 4096 + i), 'boatlog', j, '{"entry_id":' || j || ',"content":"filled row"}', 40, 'export_filled', '2026-01-01' FROM series, rows;
                 COMMIT; ANALYZE;`,
                (execErr) => db.close(() => (execErr ? reject(execErr) : resolve())),
            );
        });
    });
}

async function tenThousandBoats(store: string, central: RunningNodeRed, database: string, sqliteFile: string, bigBoat: string, log: (line: string) => void): Promise<BenchFigure[]> {
    await fillFleet(database, sqliteFile);
    const best = async (route: string) => {
        const times: number[] = [];
        let bytes = 0;
        for (let i = 0; i < 5; i++) {
            const answer = await request(`${central.url}${route}`, 'GET', {});
            if (answer.status !== 200) throw new Error(`${route}: ${answer.status} ${answer.text.slice(0, 200)}`);
            times.push(answer.ms);
            bytes = answer.text.length;
        }
        return { ms: percentile(times, 50), bytes };
    };
    const first = await best('/api/v1/installations');
    const deep = await best(`/api/v1/installations/${bigBoat}/telemetry?after=1050000&limit=1000`);
    const offset = await best(`/api/v1/installations/${bigBoat}/telemetry?offset=999000&limit=1000`);
    log(
        `10,000 boats: installations first page ${first.ms.toFixed(0)} ms (${(first.bytes / 1024).toFixed(0)} kB); deep page by after ${deep.ms.toFixed(0)} ms, by offset=999000 ${offset.ms.toFixed(0)} ms`,
    );
    return [
        { name: `${store}: /api/v1/installations first page at 10,000 boats`, value: first.ms, unit: 'ms', target: '≤ 50 ms', pass: first.ms <= 50 },
        { name: `${store}: a deep category page (?after=) at 10,000 boats`, value: deep.ms, unit: 'ms', target: '≤ 50 ms', pass: deep.ms <= 50 },
        { name: `${store}: the same depth by ?offset=999000`, value: offset.ms, unit: 'ms' },
    ];
}

/** An export of `rows` tiny telemetry rows (`{"id":n}`), gzip'd straight to `file`: the probe that held SQLite's writer for 46 s. */
async function writeTinyRowsExport(file: string, rows: number): Promise<void> {
    const gzip = zlib.createGzip({ level: 9 });
    const out = fs.createWriteStream(file);
    gzip.pipe(out);
    const write = async (text: string) => {
        if (!gzip.write(text)) await new Promise((resolve) => gzip.once('drain', resolve));
    };
    await write(header('export_tiny_bench', 'a11a11a11a11a11a', 'full', '2026-06-01T00:00:00.000Z'));
    for (const c of [...CATEGORIES_BEFORE, 'boatlog']) await write(`"${c}":{"entry_count":0,"entries":[]},`);
    await write('"settings":{"entry_count":0,"data":{}},"onboarding":{"entry_count":0,"data":{}},');
    await write(`"telemetry":{"entry_count":${rows},"entries":[`);
    for (let at = 1; at <= rows; at += 10000) {
        const part: string[] = [];
        for (let i = at; i < at + 10000 && i <= rows; i++) part.push(`{"id":${i}}`);
        await write((at > 1 ? ',' : '') + part.join(','));
    }
    await write(']}}}');
    gzip.end();
    await new Promise<void>((resolve) => out.once('close', () => resolve()));
}

/** (f) How long a 5-row import of one boat waits when it arrives 5 s into another boat's 5,000,000-row import. */
async function smallBehindHuge(store: string, database: string, dir: string, tiny: string, log: (line: string) => void): Promise<BenchFigure[]> {
    const central = await startCentral(dir, database);
    try {
        const huge = request(
            `${central.url}/api/v1/data/import`,
            'POST',
            { ...uploadHeaders('a11a11a11a11a11a', 'export_tiny_bench'), 'content-length': String(fs.statSync(tiny).size) },
            fs.createReadStream(tiny),
        );
        await new Promise((resolve) => setTimeout(resolve, 5000));
        const [small] = fleetExports(1, 1, 5);
        const answer = await request(`${central.url}/api/v1/data/import`, 'POST', { ...uploadHeaders(small.installation, small.id), 'content-length': String(small.gzip.length) }, small.gzip);
        if (answer.status !== 200) throw new Error(`the small import was refused: ${answer.status} ${answer.text}`);
        const done = await huge;
        if (done.status !== 200) throw new Error(`the 5,000,000-row import was refused: ${done.status} ${done.text}`);
        log(`a 5-row import 5 s into a 5,000,000-row one: ${answer.ms.toFixed(0)} ms (the big one took ${(done.ms / 1000).toFixed(1)} s)`);
        return [
            {
                name: `${store}: a 5-row import behind another boat's 5,000,000-row import`,
                value: answer.ms,
                unit: 'ms',
                reference: `46,900 ms on 3aea3f0 (issue #19); the big import took ${(done.ms / 1000).toFixed(1)} s`,
                target: '≤ 2,000 ms',
                pass: answer.ms <= 2000 && done.ms > 5000 + answer.ms,
            },
        ];
    } finally {
        await central.stop();
    }
}

/** Telemetry rows exported long ago, by SQL, as a fleet's years would leave them: 1,000 boats of 1,000 rows. */
async function fillOldRows(database: string, sqliteFile: string, rows: number): Promise<void> {
    const boats = 1000;
    if (database) {
        const client = new Client({ connectionString: database });
        await client.connect();
        await client.query(`INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at)
            SELECT lpad(to_hex(65536 + i % ${boats}), 16, '0'), 'telemetry', i::text, ('{"id":' || i || ',"event_type":"engine","data":{"rpm":1500}}')::jsonb, 50, 'export_old', '2020-01-01'
            FROM generate_series(1, ${rows}) AS i`);
        await client.query(`INSERT INTO category_counts SELECT installation_id, 'telemetry', count(*) FROM category_rows GROUP BY installation_id ON CONFLICT DO NOTHING`);
        await client.query('ANALYZE');
        await client.end();
        return;
    }
    await new Promise<void>((resolve, reject) => {
        const db = new sqlite3.Database(sqliteFile, (err) => {
            if (err) return reject(err);
            db.exec(
                `PRAGMA busy_timeout = 60000; BEGIN IMMEDIATE;
                 WITH RECURSIVE series(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM series WHERE i < ${rows})
                 INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at)
                 SELECT printf('%016x', 65536 + i % ${boats}), 'telemetry', i, '{"id":' || i || ',"event_type":"engine","data":{"rpm":1500}}', 50, 'export_old', '2020-01-01' FROM series;
                 INSERT OR IGNORE INTO category_counts SELECT installation_id, 'telemetry', count(*) FROM category_rows GROUP BY installation_id;
                 COMMIT; ANALYZE;`,
                (execErr) => db.close(() => (execErr ? reject(execErr) : resolve())),
            );
        });
    });
}

async function oldRowsLeft(database: string, sqliteFile: string): Promise<number> {
    if (database) {
        const client = new Client({ connectionString: database });
        await client.connect();
        const { rows } = await client.query("SELECT count(*)::int AS n FROM category_rows WHERE export_id = 'export_old'");
        await client.end();
        return rows[0].n;
    }
    return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(sqliteFile, sqlite3.OPEN_READONLY, (err) => {
            if (err) return reject(err);
            db.get("SELECT count(*) AS n FROM category_rows WHERE export_id = 'export_old'", (e, row: { n: number }) => db.close(() => (e ? reject(e) : resolve(row.n))));
        });
    });
}

/**
 * (e) Imports (8 uploaders, 900 exports of 1,500 rows) on a central whose retention (telemetry=400) deletes
 * 1,000,000 old rows meanwhile, against the same on a central without retention. The node's first retention
 * run comes a minute after start; the uploads begin once it is seen deleting.
 */
async function importsWhileRetention(store: string, fresh: () => Promise<string>, dir: string, fleet: FleetExport[], log: (line: string) => void): Promise<BenchFigure[]> {
    const exports = fleet.slice(0, 900);
    const plainDb = await fresh();
    const plain = await startCentral(path.join(dir, 'plain'), plainDb);
    let without;
    try {
        without = await uploadAll([plain], exports, 8);
    } finally {
        await plain.stop();
    }
    const database = await fresh();
    const sqliteFile = path.join(dir, 'kept', 'central-data', 'ingest.db');
    // Once to make the schema, then filled with old rows while it is stopped, then with retention on.
    await (await startCentral(path.join(dir, 'kept'), database)).stop();
    const rows = 1_000_000;
    await fillOldRows(database, sqliteFile, rows);
    const central = await startCentral(path.join(dir, 'kept'), database, { D3KOS_INGEST_RETENTION: 'telemetry=400' });
    try {
        const startedAt = Date.now();
        while ((await oldRowsLeft(database, sqliteFile)) === rows) {
            if (Date.now() - startedAt > 180000) throw new Error('retention did not begin within 3 minutes of the start');
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
        const withRetention = await uploadAll([central], exports, 8);
        const left = await oldRowsLeft(database, sqliteFile);
        const ratio = withRetention.rate / without.rate;
        log(`8 uploaders: ${without.rate.toFixed(1)} exports/s without retention, ${withRetention.rate.toFixed(1)} while it deleted ${rows - left} of ${rows} old rows`);
        return [
            {
                name: `${store}: imports while retention deletes 1,000,000 old rows`,
                value: withRetention.rate,
                unit: 'exports/s',
                reference: `${without.rate.toFixed(1)} exports/s without retention; ${left} old rows still to go at the end`,
                ratio,
                target: '≥ 0.8×',
                pass: ratio >= 0.8 && left > 0,
            },
        ];
    } finally {
        await central.stop();
    }
}

/**
 * (g) The fleet page's data at 10,000 boats: the filled boats get last contacts spread over 30 days, an import,
 * rows counted, and every hundredth a refused import, by SQL; then its first page (50 boats, with the vault's
 * figures), the page 100 pages on by the cursor, and a search by id prefix, each the median of five.
 */
async function fleetPage(store: string, central: RunningNodeRed, database: string, dataDir: string, log: (line: string) => void): Promise<BenchFigure[]> {
    // `n` numbers a boat, `time` spreads its last contact over 30 days: each store's SQL for them.
    const statements = (n: string, time: string) => [
        `UPDATE installations SET last_import_at = ${time}, first_import_at = ${time} WHERE last_export_id = 'export_filled'`,
        `INSERT INTO imported_exports (installation_id, export_id, import_id, mode, tier, format_version, exported_at, imported_at, records_imported, body_bytes, categories)
         SELECT installation_id, 'export_filled', 'imp_' || installation_id, 'full', 2, '1.0', last_import_at, last_import_at, 100, 4000, '{"boatlog":100}' FROM installations WHERE last_export_id = 'export_filled'`,
        `INSERT INTO category_counts (installation_id, category, rows) SELECT installation_id, 'boatlog', 100 FROM installations WHERE last_export_id = 'export_filled'`,
        `INSERT INTO failed_imports (installation_id, export_id, failed_at, status, error) SELECT installation_id, 'export_refused', last_import_at, 400, 'the export is not valid: tier is missing'
         FROM installations WHERE last_export_id = 'export_filled' AND ${n} % 100 = 0`,
    ];
    if (database) {
        const client = new Client({ connectionString: database });
        await client.connect();
        for (const sql of statements(
            "('x' || right(installation_id, 8))::bit(32)::int",
            "to_char(timestamptz '2026-01-01' + (('x' || right(installation_id, 8))::bit(32)::int % 43200) * interval '1 minute', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
        ))
            await client.query(sql);
        await client.query('ANALYZE');
        await client.end();
    } else {
        const sqliteFile = path.join(dataDir, 'ingest.db');
        await new Promise<void>((resolve, reject) => {
            const db = new sqlite3.Database(sqliteFile, (err) => {
                if (err) return reject(err);
                const sql = statements('rowid', "strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (rowid * 7919 % 43200) || ' minutes')");
                db.exec(`PRAGMA busy_timeout = 60000; BEGIN IMMEDIATE; ${sql.join(';\n')}; COMMIT; ANALYZE;`, (execErr) => db.close(() => (execErr ? reject(execErr) : resolve())));
            });
        });
    }
    fs.writeFileSync(path.join(dataDir, 'operators.json'), JSON.stringify(['bench-operator-token']));
    const headers = { Authorization: 'Bearer bench-operator-token' };
    const best = async (route: string) => {
        const times: number[] = [];
        let body = '';
        for (let i = 0; i < 5; i++) {
            const answer = await request(`${central.url}${route}`, 'GET', headers);
            if (answer.status !== 200) throw new Error(`${route}: ${answer.status} ${answer.text.slice(0, 200)}`);
            times.push(answer.ms);
            body = answer.text;
        }
        return { ms: percentile(times, 50), answer: JSON.parse(body) };
    };
    const first = await best('/api/v1/fleet/boats?limit=50');
    // The cursor of page 100, found by walking there once (not timed).
    let after = first.answer.next_after as string;
    for (let page = 2; page < 100; page++) after = JSON.parse((await request(`${central.url}/api/v1/fleet/boats?limit=50&after=${encodeURIComponent(after)}`, 'GET', headers)).text).next_after;
    const deep = await best(`/api/v1/fleet/boats?limit=50&after=${encodeURIComponent(after)}`);
    const search = await best('/api/v1/fleet/boats?limit=50&q=00000000000020');
    log(
        `fleet page at ${first.answer.total} boats (${first.answer.silent} silent): first page ${first.ms.toFixed(0)} ms, page 100 by cursor ${deep.ms.toFixed(0)} ms, search ${search.ms.toFixed(0)} ms (${search.answer.matching} found)`,
    );
    return [
        { name: `${store}: the fleet page's first answer at 10,000 boats`, value: first.ms, unit: 'ms', target: '≤ 200 ms', pass: first.ms <= 200 },
        { name: `${store}: the fleet page's page 100 (by its cursor)`, value: deep.ms, unit: 'ms', target: '≤ 200 ms', pass: deep.ms <= 200 },
        { name: `${store}: a fleet page search by installation id prefix`, value: search.ms, unit: 'ms' },
    ];
}
