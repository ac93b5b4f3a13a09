import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ExportQueue } from '../../lib/queue/export-queue';
import { healthStatus } from '../../lib/status/boat-status';
import { scratchFolder, writeJson } from '../support/folders';
import { queueLayout, readQueue, writeExport } from './exports';

const LICENSE = { installation_id: 'd3c0de5eab0a7001', tier: 2 };

describe('export files no queue entry names (a damaged queue file set aside)', () => {
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof queueLayout>;

    beforeEach(() => {
        scratch = scratchFolder('adopt');
        layout = queueLayout(scratch.dir);
        writeJson(layout.license, LICENSE);
    });
    afterEach(() => scratch.remove());

    it('are queued again as pending, with their export_id, tier, mode, size and a sha256 computed from their bytes', async () => {
        const queue = new ExportQueue(layout);
        const full = writeExport(layout, { mode: 'full', createdAt: new Date('2026-11-20T03:00:00Z') });
        await queue.enqueue(full);
        const orphan = writeExport(layout, { mode: 'full', createdAt: new Date('2026-11-21T03:00:00Z') });
        fs.writeFileSync(layout.queueFile, '{"pending": [ {"torn');
        const loaded = await queue.snapshot();
        assert.equal(loaded.pending_count, 0, 'the damaged queue was set aside and the queue went on empty');

        const { adopted, untrusted } = await queue.adoptOrphans();
        assert.deepEqual(untrusted, []);
        assert.deepEqual(adopted.map((e) => e.export_id).sort(), [full.export_id, orphan.export_id].sort());
        const stored = readQueue(layout).pending;
        for (const exp of [full, orphan]) {
            const entry = stored.find((e: any) => e.export_id === exp.export_id);
            assert.equal(entry.sha256, exp.sha256);
            assert.equal(entry.file_size_bytes, exp.file_size_bytes);
            assert.equal(entry.tier, 2);
            assert.equal(entry.mode, 'full');
            assert.equal(entry.created_at, exp.created_at);
            assert.equal(entry.retry_count, 0);
            assert.deepEqual(entry.watermarks, {}, 'no mark moves on their upload');
        }
        // A second look adopts nothing more.
        assert.deepEqual((await queue.adoptOrphans()).adopted, []);
    });

    it('keep supersede: of several incremental files only the newest is pending, the older ones go with a history record', async () => {
        const queue = new ExportQueue(layout);
        const older = writeExport(layout, { mode: 'incremental', createdAt: new Date('2026-11-20T03:00:00Z') });
        const newer = writeExport(layout, { mode: 'incremental', createdAt: new Date('2026-11-21T03:00:00Z') });
        const full = writeExport(layout, { mode: 'full', createdAt: new Date('2026-11-19T03:00:00Z') });
        const { adopted } = await queue.adoptOrphans();
        assert.equal(adopted.length, 3);
        const pending = readQueue(layout)
            .pending.map((e: any) => e.export_id)
            .sort();
        assert.deepEqual(pending, [full.export_id, newer.export_id].sort());
        assert.ok(!fs.existsSync(older.export_file), 'the superseded file is removed as at enqueue');
        const history = JSON.parse(fs.readFileSync(layout.historyFile, 'utf8')).exports;
        assert.ok(history.some((r: any) => r.export_id === older.export_id && r.status === 'superseded' && r.superseded_by === newer.export_id));
    });

    it('one the history says was uploaded goes back as completed, to be pruned in time, not sent again', async () => {
        const uploaded = writeExport(layout, { mode: 'full' });
        writeJson(layout.historyFile, {
            version: '1.0',
            last_updated: null,
            exports: [
                {
                    export_id: uploaded.export_id,
                    queue_id: 'q_x',
                    status: 'completed',
                    archived_at: '2026-11-20T03:00:00.000Z',
                    completed_at: '2026-11-20T03:00:00.000Z',
                    import_id: 'imp_1',
                    file_size_bytes: 1,
                    category_count: 1,
                    attempts: 1,
                },
            ],
        });
        const { adopted } = await new ExportQueue(layout).adoptOrphans();
        assert.equal(adopted[0].status, 'completed');
        assert.equal(readQueue(layout).completed[0].import_id, 'imp_1');
        assert.equal(readQueue(layout).pending.length, 0);
    });

    it('one the history says failed goes back as failed, with its reason, to be retried by the owner or pruned', async () => {
        const failed = writeExport(layout, { mode: 'full' });
        writeJson(layout.historyFile, {
            version: '1.0',
            last_updated: null,
            exports: [
                {
                    export_id: failed.export_id,
                    queue_id: 'q_x',
                    status: 'failed',
                    archived_at: '2026-11-20T03:00:00.000Z',
                    failed_at: '2026-11-20T03:00:00.000Z',
                    last_error: 'HTTP 400: bad export',
                    file_size_bytes: 1,
                    category_count: 1,
                    attempts: 1,
                },
            ],
        });
        await new ExportQueue(layout).adoptOrphans();
        const stored = readQueue(layout);
        assert.equal(stored.pending.length, 0);
        assert.equal(stored.failed[0].export_id, failed.export_id);
        assert.equal(stored.failed[0].last_error, 'HTTP 400: bad export');
        assert.equal(stored.failed[0].failed_at, '2026-11-20T03:00:00.000Z');
    });

    it('files that cannot be trusted are listed for the owner with the reason, left in place, and /health names them', async () => {
        const dir = layout.exportFilesDir;
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, 'export_20261120_030000_000_aaaa.json'), 'garbage, not an export');
        fs.writeFileSync(path.join(dir, 'export_20261120_030000_000_bbbb.json'), JSON.stringify({ installation_id: 'd3c0de5eab0a7001', tier: 2, data: {} }));
        fs.writeFileSync(
            path.join(dir, 'export_20261120_030000_000_cccc.json'),
            '{"export_id":"export_20261120_030000_000_cccc","installation_id":"d3c0de5eab0a7001","tier":2,"format_version":"1.0","timestamp":"2026-11-20T03:00:00.000Z","mode":"full","data":{"boatlog":{"entries":[{"a":1},',
        );
        fs.writeFileSync(
            path.join(dir, 'export_20261120_030000_000_dddd.json'),
            JSON.stringify({ export_id: 'export_20261120_030000_000_eeee', tier: 2, timestamp: '2026-11-20T03:00:00.000Z', data: {} }),
        );
        const queue = new ExportQueue(layout);
        const { adopted, untrusted } = await queue.adoptOrphans();
        assert.deepEqual(adopted, []);
        const reasons = Object.fromEntries(untrusted.map((u) => [path.basename(u.file).slice(-9, -5), u.reason]));
        assert.match(reasons.aaaa, /does not start as an export does/);
        assert.match(reasons.bbbb, /carries no export_id/);
        assert.match(reasons.cccc, /cut short/);
        assert.match(reasons.dddd, /carries the export_id export_20261120_030000_000_eeee, which is not its name/);
        assert.equal(queue.untrustedFiles().length, 4);
        assert.equal(fs.readdirSync(dir).length, 4, 'nothing deleted');
        const health = await healthStatus(layout);
        assert.equal(health.body.status, 'degraded');
        assert.ok(
            health.body.problems.some((p: string) => /4 export file\(s\) .* cannot be trusted .*aaaa/.test(p)),
            health.body.problems.join('\n'),
        );
        // Once they are gone, the owner hears no more of them.
        for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name));
        await queue.adoptOrphans();
        assert.equal((await healthStatus(layout)).body.status, 'ok');
    });

    it('a damaged queue file found at start makes /health degraded, naming where it was kept', async () => {
        fs.mkdirSync(path.dirname(layout.queueFile), { recursive: true });
        fs.writeFileSync(layout.queueFile, 'not json');
        const queue = new ExportQueue(layout);
        await queue.recover();
        const health = await healthStatus(layout);
        assert.equal(health.body.status, 'degraded');
        assert.ok(
            health.body.problems.some((p: string) => /upload queue file was found damaged .* kept as export_queue\.json\.unreadable-/.test(p)),
            health.body.problems.join('\n'),
        );
    });

    it('a big export file is hashed right, as sha256sum would', async () => {
        const body = '{"export_id":"EXPORT","tier":2,"timestamp":"2026-11-20T03:00:00.000Z","mode":"full","data":{"x":"' + 'y'.repeat(3 * 1024 * 1024 + 17) + '"}}\n';
        const exp = writeExport(layout, { mode: 'full' });
        const text = body.replace('EXPORT', exp.export_id);
        fs.writeFileSync(exp.export_file, text);
        const { adopted } = await new ExportQueue(layout).adoptOrphans();
        assert.equal(adopted[0].sha256, crypto.createHash('sha256').update(text).digest('hex'));
        assert.equal(adopted[0].file_size_bytes, Buffer.byteLength(text));
    });
});
