import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { exportBoatData } from '../../lib/export/collect-export';
import { readRegularFile, withinLimit } from '../../lib/files/regular-file';
import { hashFile } from '../../lib/files/hash';
import { readProblems } from '../../lib/files/read-watch';
import { ReadOnlyDatabase } from '../../lib/sqlite/read-only-database';
import { stallLimited } from '../../lib/collect/stall-limit';
import { writeRowCategory } from '../../lib/collect/context';
import { healthStatus } from '../../lib/status/boat-status';
import { scratchFolder } from '../support/folders';
import { holdExclusiveLock, release } from '../support/sqlite';
import { readExport } from '../support/exports';

/** A FIFO in place of a file: opening it to read waits for a writer, for ever if none comes. */
function fifoInPlaceOf(file: string): void {
    fs.rmSync(file, { force: true });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    execFileSync('mkfifo', [file]);
}

describe('reads that cannot hang', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;

    beforeEach(async () => {
        scratch = scratchFolder('reads');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 10, telemetryRows: 20, captureRows: 3, mediaFiles: 2 });
    });
    afterEach(() => scratch.remove());

    it('a FIFO, a socket and a device are refused at once, naming the file and what it is', async () => {
        const fifo = path.join(scratch.dir, 'alerts.json');
        execFileSync('mkfifo', [fifo]);
        await assert.rejects(readRegularFile(fifo), (err: any) => err.code === 'SOURCE_NOT_A_FILE' && /alerts\.json is a FIFO/.test(err.message));
        const socketFile = path.join(scratch.dir, 'qr-codes.json');
        const server = net.createServer().listen(socketFile);
        await new Promise((r) => server.once('listening', r));
        try {
            await assert.rejects(readRegularFile(socketFile), (err: any) => err.code === 'SOURCE_NOT_A_FILE' && /qr-codes\.json is a socket/.test(err.message));
        } finally {
            server.close();
        }
        await assert.rejects(readRegularFile('/dev/zero'), (err: any) => err.code === 'SOURCE_NOT_A_FILE' && /zero is a character device/.test(err.message));
        await assert.rejects(readRegularFile(path.join(scratch.dir, 'absent.json')), (err: any) => err.code === 'ENOENT');
    });

    it('an export with FIFOs in place of JSON, env and database sources completes; those categories carry the error, the others export', async () => {
        fifoInPlaceOf(boat.layout.alertsJson);
        fifoInPlaceOf(boat.layout.qrCodes);
        fifoInPlaceOf(boat.layout.vesselEnv);
        fifoInPlaceOf(boat.layout.boatlogDb);
        fifoInPlaceOf(boat.layout.benchmarkResults[0]);
        const started = Date.now();
        const result = await exportBoatData(boat.layout, 'full');
        assert.ok(Date.now() - started < 20000, 'the export did not wait on the FIFOs');
        const json = readExport(result.export_file).json;
        assert.match(json.data.qr_codes.error, /qr-codes\.json is a FIFO/);
        assert.match(json.data.boatlog.error, /boatlog\.db is a FIFO/);
        assert.match(json.data.engine_benchmark.error, /benchmark-results\.json is a FIFO/);
        assert.match(json.data.onboarding.error, /vessel\.env is a FIFO/);
        assert.ok(json.data.onboarding.data.wizard_answers, 'the rest of onboarding still exports');
        // issues.db still reads: system_alerts has its rows and the FIFO's error.
        assert.match(json.data.system_alerts.error, /alerts\.json is a FIFO/);
        assert.ok(json.data.system_alerts.entry_count > 0);
        assert.ok(json.data.telemetry.entry_count > 0);
        assert.equal(json.data.telemetry.error, undefined);
        const named = readProblems(boat.root).map((p) => p.problem);
        assert.ok(
            named.some((p) => /^data\/qr-codes\.json is a FIFO/.test(p)),
            named.join('\n'),
        );
        assert.ok(
            named.some((p) => /^data\/boatlog\/boatlog\.db is a FIFO/.test(p)),
            named.join('\n'),
        );
    });

    it('a boatlog.db that is a link to a device is refused as a device, never handed to SQLite', async () => {
        fs.rmSync(boat.layout.boatlogDb);
        fs.symlinkSync('/dev/zero', boat.layout.boatlogDb);
        const result = await exportBoatData(boat.layout, 'full');
        const json = readExport(result.export_file).json;
        assert.match(json.data.boatlog.error, /boatlog\.db is a character device, not a regular file/);
        assert.ok(json.data.telemetry.entry_count > 0);
    });

    it('a license.json that is a FIFO makes /health degraded at once instead of hanging it', async () => {
        fifoInPlaceOf(boat.layout.license);
        const health = await healthStatus(boat.layout);
        assert.equal(health.statusCode, 503);
        assert.equal(health.body.status, 'degraded');
        assert.ok(
            health.body.problems.some((p: string) => /license\.json is a FIFO/.test(p)),
            health.body.problems.join('\n'),
        );
    });

    it('a file read fine again clears its problem from /health', async () => {
        fifoInPlaceOf(boat.layout.qrCodes);
        await exportBoatData(boat.layout, 'full');
        assert.equal((await healthStatus(boat.layout)).body.status, 'degraded');
        fs.rmSync(boat.layout.qrCodes);
        fs.writeFileSync(boat.layout.qrCodes, '[]');
        await exportBoatData(boat.layout, 'full');
        const health = await healthStatus(boat.layout);
        assert.equal(health.body.status, 'ok', health.body.problems.join('\n'));
        assert.deepEqual(health.body.problems, []);
    });

    it('a SQLite statement that runs past its limit is interrupted and reported, and the next open is not refused once it ended', async () => {
        const db = (await ReadOnlyDatabase.open(boat.layout.telemetryDb, { limitMs: 300 }))!;
        const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c';
        const started = Date.now();
        await assert.rejects(db.get(endless), (err: any) => err.code === 'SOURCE_TIMEOUT' && /telemetry\.db/.test(err.message));
        assert.ok(Date.now() - started < 15000, `took ${Date.now() - started} ms`);
        await db.close();
        assert.ok(
            readProblems(boat.root).some((p) => /telemetry\.db (did not answer within|has not finished)/.test(p.problem)),
            JSON.stringify(readProblems(boat.root)),
        );
        // The interrupt ended the statement: the file is not left stuck, so it opens and reads again.
        await new Promise((r) => setTimeout(r, 100));
        const again = (await ReadOnlyDatabase.open(boat.layout.telemetryDb))!;
        assert.ok(((await again.get<{ n: number }>('SELECT count(*) AS n FROM telemetry_events'))?.n ?? 0) > 0);
        await again.close();
    });

    it('a database locked for ever by another program is a category error within seconds, never a wait', async () => {
        const holder = await holdExclusiveLock(boat.layout.boatlogDb);
        try {
            const started = Date.now();
            const result = await exportBoatData(boat.layout, 'full');
            assert.ok(Date.now() - started < 20000);
            const json = readExport(result.export_file).json;
            assert.match(json.data.boatlog.error, /boatlog\.db is locked/);
        } finally {
            await release(holder);
        }
    });

    it('a collector that goes silent is cut off after its limit, and its late writes never reach the export', async () => {
        const written: string[] = [];
        let wake!: () => void;
        const silent = stallLimited(
            'qr_codes',
            (_context, out) =>
                writeRowCategory('qr_codes', out, async (entries) => {
                    await entries.add('{"a":1}', 1);
                    await new Promise<void>((r) => (wake = r));
                    await entries.add('{"late":true}', 1);
                    return {};
                }),
            200,
        );
        const out = { write: async (chunk: string) => void written.push(chunk) };
        await assert.rejects(silent({ layout: boat.layout, mode: 'full', now: new Date() }, out), (err: any) => err.code === 'SOURCE_TIMEOUT' && /qr_codes/.test(err.message));
        wake();
        await new Promise((r) => setTimeout(r, 50));
        assert.ok(!written.join('').includes('late'), written.join(''));
        assert.ok(readProblems(boat.root).some((p) => /the qr_codes category gave nothing for/.test(p.problem)));
    });

    it('hashing refuses a FIFO named as an export file at once instead of blocking', async () => {
        const fifo = path.join(scratch.dir, 'export_20261120_030000_000_aaaa.json');
        execFileSync('mkfifo', [fifo]);
        await assert.rejects(hashFile(fifo), (err: any) => err.code === 'SOURCE_NOT_A_FILE');
    });

    it('withinLimit answers a promise that never settles with a timeout naming what was waited on', async () => {
        let late = false;
        await assert.rejects(
            withinLimit(new Promise(() => undefined), 50, () => (late = true), 'The read of x.json'),
            /The read of x\.json did not finish within/,
        );
        assert.ok(late);
    });
});
