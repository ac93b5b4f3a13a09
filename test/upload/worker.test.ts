import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { readLicense } from '../../lib/boat/license';
import { exportBoatData } from '../../lib/export/collect-export';
import { readWatermarks } from '../../lib/export/watermarks';
import { ExportQueue } from '../../lib/queue/export-queue';
import { AttemptReport, UploadWorker } from '../../lib/upload/worker';
import { appendBoatlogRows, buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { scratchFolder } from '../support/folders';
import { canMount, fillDisk, mountTinyDisk, readQueue, writeExport } from '../queue/exports';
import { closedPortUrl, FakeCentral } from './central-server';

describe('the upload worker', function () {
    this.timeout(30000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let central: FakeCentral;
    let attempts: AttemptReport[];

    before(async () => {
        scratch = scratchFolder('worker');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'template'), boatlogRows: 30, telemetryRows: 40 });
    });
    after(() => scratch.remove());

    let root: string;
    let layout: DemoBoat['layout'];
    beforeEach(async () => {
        // Each test gets its own copy of the boat: the queue and the marks start empty.
        root = fs.mkdtempSync(path.join(scratch.dir, 'boat-'));
        fs.cpSync(boat.root, root, { recursive: true });
        layout = { ...boat.layout, ...relayout(root) };
        central = await FakeCentral.start();
        attempts = [];
    });
    afterEach(() => central.close());

    function relayout(dir: string): Partial<DemoBoat['layout']> {
        const out: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(boat.layout)) {
            if (typeof value === 'string' && value.startsWith(boat.root)) out[key] = dir + value.slice(boat.root.length);
        }
        return out as Partial<DemoBoat['layout']>;
    }

    function worker(options: { url?: string; token?: string; schedule?: number[]; timeoutMs?: number } = {}) {
        const queue = new ExportQueue(layout, { retrySchedule: options.schedule ?? [0, 0, 0] });
        const w = new UploadWorker({
            queue,
            watermarksFile: layout.watermarksFile,
            centralUrl: () => options.url ?? central.url,
            license: () => readLicense(layout.license),
            deviceToken: () => options.token,
            uploadTimeoutMs: options.timeoutMs ?? 5000,
            healthTimeoutMs: 1000,
            onAttempt: (report) => attempts.push(report),
        });
        return { queue, worker: w };
    }

    it('uploads what is due and records it completed, with the import id the central side gave', async () => {
        const { queue, worker: w } = worker({ token: 'the-device-token' });
        const exp = writeExport(layout);
        await queue.enqueue(exp);
        const round = await w.process();
        assert.deepEqual([round.processed, round.uploaded], [1, 1]);
        const file = readQueue(layout);
        assert.equal(file.completed[0].export_id, exp.export_id);
        assert.equal(file.completed[0].import_id, 'imp-1');
        assert.equal(file.last_upload.export_id, exp.export_id);
        assert.deepEqual(
            attempts.map((a) => a.outcome),
            ['completed'],
        );
        assert.equal(central.uploads[0].headers.authorization, 'Bearer the-device-token');
        assert.equal(w.state.central_reachable, true);
        assert.ok(!fs.readFileSync(layout.queueFile, 'utf8').includes('the-device-token'), 'the token never reaches the queue file');
    });

    it('without a device token the boat identifies itself by its installation id', async () => {
        const { queue, worker: w } = worker();
        await queue.enqueue(writeExport(layout));
        await w.process();
        assert.equal(central.uploads[0].headers.authorization, `Bearer ${boat.installationId}`);
    });

    describe('watermarks', () => {
        it('move only when the central side confirms, only as far as the export reached: rows written meanwhile go out next time', async () => {
            const { queue, worker: w } = worker({ schedule: [0, 0] });
            const exp = await exportBoatData(layout, 'incremental');
            assert.ok(exp.watermarks.boatlog, 'an incremental export carries its boatlog mark');
            await queue.enqueue(exp);
            // Written after the export closed, before its upload is confirmed.
            await appendBoatlogRows(layout.boatlogDb, 7);

            central.answer = () => ({ status: 503, body: { error: 'maintenance' } });
            await w.process();
            assert.deepEqual((await readWatermarks(layout.watermarksFile)).acknowledged, {}, 'a refused upload moves no mark');

            central.answer = () => ({ status: 200 });
            await w.process();
            assert.deepEqual((await readWatermarks(layout.watermarksFile)).acknowledged, {}, 'a placeholder 200 moves no mark');
            // Its urgent part (the boatlog) and its bulk part (the telemetry) are two uploads.
            assert.equal(readQueue(layout).failed.length, 2, 'two tries used: both parts failed');
            await queue.retryFailed();

            central.answer = () => ({ status: 200, body: { status: 'success', import_id: 'imp-9', records_imported: 30 } });
            await w.process();
            const marks = await readWatermarks(layout.watermarksFile);
            assert.deepEqual(marks.acknowledged.boatlog, exp.watermarks.boatlog);
            assert.equal(marks.last_export_id, exp.export_id);

            const next = await exportBoatData(layout, 'incremental');
            assert.equal(next.categories.boatlog.entry_count, 7, 'exactly the rows written while the first export was in flight');
        });
    });

    describe('at sea: the central API out of reach', () => {
        it('connection refused uses no try, keeps everything pending, and the next round after reconnection delivers it', async () => {
            const { queue, worker: w } = worker({ url: await closedPortUrl(), schedule: [0] });
            await queue.enqueue(writeExport(layout));
            for (let i = 0; i < 5; i++) {
                const round = await w.process({ force: true });
                assert.equal(round.waiting, true);
                assert.match(round.message, /out of reach/);
            }
            const [entry] = readQueue(layout).pending;
            assert.equal(entry.retry_count, 0, 'a single-try schedule survived five rounds at sea');
            assert.equal(w.state.central_reachable, false);
            assert.deepEqual(attempts, [], 'no attempt was made');

            const ashore = worker({ schedule: [0] });
            await ashore.worker.process();
            assert.equal(readQueue(layout).completed.length, 1);
        });

        it('a link lost mid-upload (health fails too) uses no try', async () => {
            const { queue, worker: w } = worker({ schedule: [0] });
            await queue.enqueue(writeExport(layout));
            central.answer = () => 'drop-mid-body';
            let checks = 0;
            central.health = () => (checks++ === 0 ? { status: 200, body: '{"status":"ok"}' } : { status: 503, body: '{"error":"down"}' });
            const round = await w.process();
            assert.equal(round.waiting, true);
            assert.equal(readQueue(layout).pending[0].retry_count, 0);
        });

        it('with nothing due, no request leaves the boat', async () => {
            const { worker: w } = worker();
            await w.process();
            assert.equal(central.healthChecks, 0);
        });
    });

    describe('exports that can never be sent fail at once', () => {
        it('a missing export file (retried forever by the old service) is failed at once, without a request', async () => {
            const { queue, worker: w } = worker();
            const exp = writeExport(layout);
            await queue.enqueue(exp);
            fs.rmSync(exp.export_file);
            await w.process();
            const file = readQueue(layout);
            assert.equal(file.failed.length, 1);
            assert.match(file.failed[0].last_error, /is missing/);
            assert.equal(central.uploads.length, 0);
            await w.process({ force: true });
            assert.equal(central.uploads.length, 0, 'and never tried again by itself');
        });

        it('an export file changed since it was made is failed at once with the reason', async () => {
            const { queue, worker: w } = worker();
            const exp = writeExport(layout);
            await queue.enqueue(exp);
            fs.appendFileSync(exp.export_file, ' ');
            await w.process();
            assert.match(readQueue(layout).failed[0].last_error, /checksum no longer matches/);
            assert.equal(central.uploads.length, 0);
        });
    });

    describe('uploads that must not happen', () => {
        it('tier 0: nothing is uploaded, not even a health check, and the reason is given', async () => {
            const license = JSON.parse(fs.readFileSync(layout.license, 'utf8'));
            fs.writeFileSync(layout.license, JSON.stringify({ ...license, tier: 0 }));
            const { queue, worker: w } = worker();
            await queue.enqueue(writeExport(layout));
            const round = await w.process({ force: true });
            assert.match(round.message, /require Tier 1 or higher; this boat is Tier 0/);
            assert.equal(w.state.uploads_blocked, round.message);
            assert.equal(central.healthChecks + central.uploads.length, 0);
            assert.equal(readQueue(layout).pending.length, 1);
        });

        it('no central URL: exports stay queued and the status says why', async () => {
            const { queue, worker: w } = worker({ url: '' });
            await queue.enqueue(writeExport(layout));
            const round = await w.process({ force: true });
            assert.match(round.message, /No central API is set/);
            assert.equal(readQueue(layout).pending[0].retry_count, 0);
        });
    });

    describe('a queue write that fails after an upload', () => {
        it('on a full disk (a real tmpfs) leaves no export stuck in uploading: the status clears and the next round sends it again', async function () {
            if (!canMount) this.skip();
            const unmount = mountTinyDisk(layout.exportsDir);
            try {
                const { queue, worker: w } = worker();
                const exp = writeExport(layout);
                await queue.enqueue(exp);
                let filler = '';
                // The disk fills while the central side stores the export: its answer cannot be saved.
                central.answer = (_, n) => {
                    if (n === 0) filler = fillDisk(layout.exportsDir);
                    return { status: 200, body: { status: 'success', import_id: `imp-${n + 1}`, records_imported: 1 } };
                };
                await assert.rejects(w.process(), (err: any) => err.code === 'DISK_FULL' && /^The upload queue could not be saved: the disk holding .* is full/.test(err.message));
                assert.equal(w.state.uploading, null, 'the status shows no upload once it is over');
                assert.equal(readQueue(layout).uploading.length, 1, 'on disk the export is still "uploading"');

                fs.rmSync(filler);
                const round = await w.process();
                assert.equal(round.uploaded, 1);
                const file = readQueue(layout);
                assert.equal(file.uploading.length, 0);
                assert.deepEqual(
                    file.completed.map((e: any) => [e.export_id, e.retry_count]),
                    [[exp.export_id, 0]],
                );
                assert.equal(central.uploads.length, 2, 'sent again; the central side stores it once by its idempotency key');
            } finally {
                unmount();
            }
        });

        it('an export another upload here is sending is left alone; only stranded ones go back to pending', async () => {
            const sender = new ExportQueue(layout);
            const other = new ExportQueue(layout);
            const [sending, stranded] = [writeExport(layout), writeExport(layout)];
            await sender.enqueue(sending);
            await sender.enqueue(stranded);
            const claimed = (await sender.claimNext({ force: true }))!;
            assert.equal(claimed.export_id, sending.export_id);
            // As a failed settle leaves it: in `uploading` on disk, and nobody sending it.
            const file = readQueue(layout);
            file.uploading.push({ ...file.pending[0], status: 'uploading' });
            file.pending = [];
            fs.writeFileSync(layout.queueFile, JSON.stringify(file));

            const released = await other.releaseStranded();
            assert.deepEqual(
                released.map((e) => e.export_id),
                [stranded.export_id],
            );
            const after = readQueue(layout);
            assert.deepEqual(
                after.uploading.map((e: any) => e.export_id),
                [sending.export_id],
            );
            assert.equal(after.pending[0].retry_count, 0, 'no try used');
            await sender.settle(claimed.queue_id, { kind: 'completed', import_id: 'imp-1', records_imported: 1 });
            assert.deepEqual(await other.releaseStranded(), []);
        });
    });

    describe('stopping', () => {
        it('an upload in flight is aborted and its entry is pending on disk, no try used, before stop() resolves', async () => {
            const { queue, worker: w } = worker({ schedule: [0], timeoutMs: 20000 });
            await queue.enqueue(writeExport(layout));
            central.answer = () => 'never-answer';
            const round = w.process();
            while (central.uploads.length === 0) await new Promise((r) => setTimeout(r, 10));
            assert.equal(readQueue(layout).uploading.length, 1);
            const started = Date.now();
            await w.stop();
            assert.ok(Date.now() - started < 10000, 'stop did not wait for the 20 s timeout');
            const file = readQueue(layout);
            assert.equal(file.uploading.length, 0);
            assert.equal(file.pending[0].retry_count, 0);
            assert.match(file.pending[0].last_error, /Node-RED is stopping/);
            assert.equal((await round).waiting, true);
            assert.match((await w.process()).message, /stopping/);
        });
    });

    it('retries with the schedule and reports each finished attempt', async () => {
        const { queue, worker: w } = worker({ schedule: [0, 0, 0] });
        await queue.enqueue(writeExport(layout));
        central.answer = (_, n) => (n < 2 ? { status: 502, body: { error: 'bad gateway' } } : { status: 200, body: { status: 'success', import_id: 'imp-3', records_imported: 1 } });
        for (let i = 0; i < 3; i++) await w.process();
        assert.deepEqual(
            attempts.map((a) => [a.outcome, a.http_status]),
            [
                ['retry', 502],
                ['retry', 502],
                ['completed', 200],
            ],
        );
        assert.equal(readQueue(layout).completed[0].retry_count, 2);
    });
});
