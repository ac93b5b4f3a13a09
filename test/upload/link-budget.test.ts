import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { readLicense } from '../../lib/boat/license';
import { exportBoatData } from '../../lib/export/collect-export';
import { readWatermarks } from '../../lib/export/watermarks';
import { linkAnswer } from '../../lib/link/answer';
import { BoatLink, MB } from '../../lib/link/link';
import { ExportQueue } from '../../lib/queue/export-queue';
import { UploadWorker } from '../../lib/upload/worker';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { scratchFolder } from '../support/folders';
import { readQueue } from '../queue/exports';
import { FakeCentral } from './central-server';

describe('urgent first, bulk within the budget, brotli where the central side takes it', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let template: DemoBoat;
    let layout: DemoBoat['layout'];
    let central: FakeCentral;
    let link: BoatLink;

    before(async () => {
        scratch = scratchFolder('link-budget');
        template = await buildDemoBoat({ root: path.join(scratch.dir, 'template'), boatlogRows: 30, telemetryRows: 3000, tier: 2 });
    });
    after(() => scratch.remove());
    beforeEach(async () => {
        const root = fs.mkdtempSync(path.join(scratch.dir, 'boat-'));
        fs.cpSync(template.root, root, { recursive: true });
        layout = Object.fromEntries(
            Object.entries(template.layout).map(([k, v]) => [k, typeof v === 'string' && v.startsWith(template.root) ? root + v.slice(template.root.length) : v]),
        ) as DemoBoat['layout'];
        central = await FakeCentral.start();
        central.health = () => ({ status: 200, body: JSON.stringify({ status: 'ok', accept_encoding: ['br', 'gzip'] }) });
        link = new BoatLink(path.join(root, 'data', 'link.json'), () => undefined);
    });
    afterEach(() => central.close());

    function worker() {
        const queue = new ExportQueue(layout, { retrySchedule: [0, 0, 0] });
        const w = new UploadWorker({ queue, link, watermarksFile: layout.watermarksFile, centralUrl: () => central.url, license: () => readLicense(layout.license), deviceToken: () => undefined });
        return { queue, worker: w };
    }
    const sent = () => central.uploads.map((u) => JSON.parse(u.body.toString()).export_id as string);

    it('an export with urgent and bulk data is two uploads of one family, each carrying only its categories and marks', async () => {
        const { queue, worker: w } = worker();
        const exp = await exportBoatData(layout, 'incremental');
        const { entries } = await queue.enqueue(exp);
        assert.deepEqual(
            entries.map((e) => [e.export_id, e.part]),
            [
                [exp.export_id, 'urgent'],
                [`${exp.export_id}-bulk`, 'bulk'],
            ],
        );
        // Stored compressed as two files, each the body its upload sends.
        assert.deepEqual(
            entries.map((e) => [path.basename(e.export_file), e.encoding]),
            [
                [`${exp.export_id}.json.br`, 'br'],
                [`${exp.export_id}-bulk.json.br`, 'br'],
            ],
        );
        assert.ok(Object.keys(entries[1].watermarks ?? {}).includes('telemetry'));
        assert.ok(!Object.keys(entries[1].watermarks ?? {}).includes('boatlog'), 'the bulk part carries no boatlog mark');
        central.answer = (upload) => (String(upload.headers['idempotency-key']).endsWith('-bulk') ? { status: 503 } : { status: 200, body: { status: 'success', import_id: 'i' } });
        await w.process();
        const [urgent, bulk] = central.uploads.map((u) => JSON.parse(u.body.toString()));
        assert.equal(urgent.export_id, exp.export_id);
        assert.ok(urgent.data.boatlog.entries.length > 0);
        assert.deepEqual(urgent.data.telemetry.entries, [], 'the urgent part carries no telemetry rows');
        assert.equal(bulk.data.telemetry.entries.length, 3000);
        assert.deepEqual(bulk.data.boatlog.entries, []);
        assert.equal(Object.keys(bulk.data).length, 9, 'every part has all nine categories');
        assert.equal(bulk.statistics.total_size_bytes, central.uploads[1].body.length, 'its statistics are its own');
        const marks = (await readWatermarks(layout.watermarksFile)).acknowledged;
        assert.ok(marks.boatlog, 'the confirmed urgent part moved the boatlog mark');
        assert.equal(marks.telemetry, undefined, 'the refused bulk part moved no telemetry mark');
    });

    it('urgent uploads go newest export first, then bulk oldest first', async () => {
        const { queue, worker: w } = worker();
        const ids: string[] = [];
        for (let day = 3; day >= 1; day--) {
            const exp = await exportBoatData(layout, 'full', new Date(Date.now() - day * 86400_000));
            await queue.enqueue(exp);
            ids.push(exp.export_id);
        }
        await w.process();
        assert.deepEqual(sent(), [ids[2], ids[1], ids[0], `${ids[0]}-bulk`, `${ids[1]}-bulk`, `${ids[2]}-bulk`]);
    });

    it('a newer incremental part supersedes only the older parts of its class; the shared file stays while a part names it', async () => {
        const { queue, worker: w } = worker();
        await link.setChoice({ kind: 'metered', daily_budget_mb: 0, allow_backups: false });
        const first = await exportBoatData(layout, 'incremental', new Date(Date.now() - 86400_000));
        await queue.enqueue(first);
        await w.process();
        assert.deepEqual(sent(), [first.export_id], 'the urgent part went, the bulk part waits for Wi-Fi');
        const second = await exportBoatData(layout, 'incremental');
        const { superseded } = await queue.enqueue(second);
        assert.deepEqual(
            superseded.map((e) => e.export_id),
            [`${first.export_id}-bulk`],
        );
        assert.ok(fs.existsSync(first.export_file), 'still named by its completed urgent part');
        assert.deepEqual(
            readQueue(layout).pending.map((e: { export_id: string }) => e.export_id),
            [second.export_id, `${second.export_id}-bulk`],
        );
    });

    it('on a metered link bulk waits past the budget and nothing goes for it; a switch to unmetered sends it', async () => {
        const { queue, worker: w } = worker();
        await link.setChoice({ kind: 'metered', daily_budget_mb: 0.05, allow_backups: false });
        // 200 000 rows' worth: far past the 50 kB budget even compressed.
        const big = await buildDemoBoat({ root: path.join(scratch.dir, 'big'), boatlogRows: 5, telemetryRows: 20000, tier: 2 });
        const exp = await exportBoatData(big.layout, 'full');
        await queue.enqueue(exp);
        await w.process();
        assert.deepEqual(sent(), [exp.export_id]);
        const checks = central.healthChecks;
        await w.process({ force: true });
        assert.equal(central.healthChecks, checks, 'a round with only held-back bulk costs no byte, not even a health check');
        assert.ok((await link.bytesToday()) <= 0.05 * MB, `${await link.bytesToday()} bytes today`);
        const answer = await linkAnswer(link, await queue.pending(), null, null);
        assert.equal(answer.waiting.length, 1);
        assert.match(answer.waiting[0].text, /^Telemetry, camera captures and camera snapshots wait for Wi-Fi: \d+(\.\d)? (kB|MB)$/);
        assert.ok(answer.waiting[0].bytes > 50_000);

        await link.setChoice({ kind: 'unmetered', daily_budget_mb: null, allow_backups: true });
        await w.process();
        assert.deepEqual(sent(), [exp.export_id, `${exp.export_id}-bulk`]);
        assert.deepEqual((await linkAnswer(link, await queue.pending(), null, null)).waiting, []);
    });

    it('a bulk upload that fits in what is left of the budget goes on a metered link', async () => {
        const { queue, worker: w } = worker();
        await link.setChoice({ kind: 'metered', daily_budget_mb: 5, allow_backups: false });
        const exp = await exportBoatData(layout, 'full');
        await queue.enqueue(exp);
        await w.process();
        assert.deepEqual(sent(), [exp.export_id, `${exp.export_id}-bulk`]);
    });

    it('br where the health answer names it, gzip for an older central, and gzip at once after a 415, remembered', async () => {
        const { queue, worker: w } = worker();
        await queue.enqueue(await exportBoatData(layout, 'full'));
        await w.process();
        assert.deepEqual(
            central.uploads.map((u) => u.headers['content-encoding']),
            ['br', 'br'],
        );

        central.uploads.length = 0;
        central.health = () => ({ status: 200, body: '{"status":"ok"}' });
        await queue.enqueue(await exportBoatData(layout, 'full'));
        await w.process();
        assert.deepEqual(
            central.uploads.map((u) => u.headers['content-encoding']),
            ['gzip', 'gzip'],
            'an older central that names nothing',
        );

        central.uploads.length = 0;
        central.health = () => ({ status: 200, body: JSON.stringify({ status: 'ok', accept_encoding: ['br', 'gzip'] }) });
        central.answer = (upload) =>
            upload.headers['content-encoding'] === 'br'
                ? { status: 415, headers: { 'Accept-Encoding': 'gzip' }, body: { error: 'no br here' } }
                : { status: 200, body: { status: 'success', import_id: 'i' } };
        await queue.enqueue(await exportBoatData(layout, 'full'));
        await w.process();
        assert.deepEqual(
            central.uploads.map((u) => u.headers['content-encoding']),
            ['br', 'gzip', 'gzip'],
            'one 415, then gzip for the rest',
        );
        const file = readQueue(layout);
        assert.equal(file.pending.length + file.failed.length, 0);
        assert.ok(
            file.completed.every((e: { retry_count: number }) => e.retry_count === 0),
            'the 415 used no try',
        );
    });

    it('an export stored compressed goes as stored: its file is the body, byte for byte, at every try; an older central has it written again in gzip, once', async () => {
        const { queue, worker: w } = worker();
        const exp = await exportBoatData(layout, 'full');
        const parts = exp.parts!;
        const stored = new Map(parts.map((p) => [p.export_id, fs.readFileSync(p.export_file)]));
        // The first try of each is refused with a 503: the retry must send the very same bytes, compressed once.
        const seen = new Set<string>();
        central.answer = (upload) => {
            const id = String(upload.headers['idempotency-key']);
            // (Also asked while the body arrives, with none of it yet: only the whole upload counts.)
            if (upload.body.length === 0) return { status: 200, body: {} };
            if (!seen.has(id)) {
                seen.add(id);
                return { status: 503 };
            }
            return { status: 200, body: { status: 'success', import_id: 'i' } };
        };
        await queue.enqueue(exp);
        await w.process();
        const second = await w.process({ force: true });
        assert.ok(second.processed > 0, second.message);
        const tries = central.uploads.map((u) => [String(u.headers['idempotency-key']), u.wireBytes]);
        for (const [id, bytes] of stored) {
            const sent = tries.filter(([key]) => key === id).map(([, n]) => n);
            assert.ok(sent.length >= 2, `${id} was tried twice (${JSON.stringify(tries)})`);
            for (const n of sent) assert.equal(n, bytes.length, `${id} went as its stored file`);
        }
        assert.deepEqual(
            central.uploads.map((u) => u.headers['content-encoding']),
            central.uploads.map(() => 'br'),
        );

        // An older central that takes only gzip: the stored br file is written again as .json.gz, its entry names it (and its checksum).
        central.uploads.length = 0;
        central.health = () => ({ status: 200, body: '{"status":"ok"}' });
        central.answer = () => ({ status: 200, body: { status: 'success', import_id: 'j' } });
        const older = await exportBoatData(layout, 'full', new Date(Date.now() + 1000), 'br');
        await queue.enqueue(older);
        await w.process();
        assert.deepEqual(
            central.uploads.map((u) => u.headers['content-encoding']),
            ['gzip', 'gzip'],
        );
        const done = readQueue(layout).completed.filter((e: any) => e.export_id.startsWith(older.export_id));
        assert.equal(done.length, 2);
        for (const entry of done) {
            assert.equal(entry.encoding, 'gzip');
            assert.match(entry.export_file, /\.json\.gz$/);
            assert.equal(entry.sha256, crypto.createHash('sha256').update(fs.readFileSync(entry.export_file)).digest('hex'));
            assert.ok(!fs.existsSync(entry.export_file.replace(/\.gz$/, '.br')), 'the br file is gone');
        }
        // The next export is written in gzip from the start: it goes as stored too.
        const next = await exportBoatData(layout, 'full', new Date(Date.now() + 2000));
        assert.equal(next.encoding, 'gzip');
    });

    it('what the central side decodes outlives a restart: a new process writes its first export in gzip; a damaged memory means br', async () => {
        central.health = () => ({ status: 200, body: '{"status":"ok"}' });
        const { queue, worker: w } = worker();
        await queue.enqueue(await exportBoatData(layout, 'full'));
        await w.process();
        assert.deepEqual(
            central.uploads.map((u) => u.headers['content-encoding']),
            ['gzip', 'gzip'],
        );
        // Another Node.js process, as after a restart of Node-RED: nothing in memory, only the boat's files.
        const storageInNewProcess = () =>
            execFileSync(
                process.execPath,
                [
                    '--require',
                    require.resolve('tsx/cjs'),
                    '-e',
                    `require(${JSON.stringify(path.join(__dirname, '../../lib/export/export-file.ts'))}).storedEncoding({ watermarksFile: ${JSON.stringify(layout.watermarksFile)} }).then((e) => process.stdout.write(e))`,
                ],
                { encoding: 'utf8', env: { ...process.env, D3KOS_EXPORT_STORAGE: '' } },
            );
        assert.equal(storageInNewProcess(), 'gzip');
        const memory = path.join(path.dirname(layout.watermarksFile), 'central_encoding.json');
        fs.writeFileSync(memory, '{"encoding": "gz');
        assert.equal(storageInNewProcess(), 'br', 'a damaged file is not trusted');
    });
});
