import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { ExportQueue } from '../../lib/queue/export-queue';
import { loadQueueFile } from '../../lib/queue/queue-file';
import { scratchFolder } from '../support/folders';
import { queueLayout, readQueue, writeExport } from './exports';

describe('the queue file', () => {
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof queueLayout>;

    beforeEach(() => {
        scratch = scratchFolder('queue-file');
        layout = queueLayout(scratch.dir);
        fs.mkdirSync(layout.exportsDir, { recursive: true });
    });
    afterEach(() => scratch.remove());

    it('keeps the deployed format: version, last_updated and the four lists, with the deployed entry fields', async () => {
        const queue = new ExportQueue(layout);
        const exp = writeExport(layout);
        await queue.enqueue(exp);
        const file = readQueue(layout);
        assert.deepEqual(Object.keys(file).slice(0, 6), ['version', 'last_updated', 'pending', 'uploading', 'completed', 'failed']);
        assert.equal(file.version, '1.0');
        const [entry] = file.pending;
        for (const field of ['queue_id', 'export_id', 'export_file', 'created_at', 'tier', 'category_count', 'file_size_bytes', 'sha256', 'status', 'retry_count', 'next_retry_at', 'last_error']) {
            assert.ok(field in entry, `entry field ${field}`);
        }
        assert.equal(entry.status, 'pending');
        assert.equal(entry.retry_count, 0);
        assert.equal(entry.export_file, exp.export_file);
        assert.equal(entry.sha256, exp.sha256);
    });

    it('a missing queue file is an empty queue and is not created just by reading it', async () => {
        const snapshot = await new ExportQueue(layout).snapshot();
        assert.equal(snapshot.pending_count, 0);
        assert.equal(fs.existsSync(layout.queueFile), false);
    });

    it('a queue file holding [] (which broke the old service) loads as an empty queue', async () => {
        fs.writeFileSync(layout.queueFile, '[]');
        const loaded = await loadQueueFile(layout.queueFile);
        assert.equal(loaded.setAside, null);
        assert.deepEqual([loaded.queue.pending, loaded.queue.uploading, loaded.queue.completed, loaded.queue.failed], [[], [], [], []]);
        const queue = new ExportQueue(layout);
        await queue.enqueue(writeExport(layout));
        assert.equal(readQueue(layout).pending.length, 1);
    });

    it('a [] queue file with entries of the old service in it loads them as pending entries', async () => {
        const exp = writeExport(layout);
        fs.writeFileSync(layout.queueFile, JSON.stringify([{ export_file: exp.export_file, created_at: exp.created_at, retry_count: 1 }]));
        const snapshot = await new ExportQueue(layout).snapshot();
        assert.equal(snapshot.pending_count, 1);
        assert.equal(snapshot.items.pending[0].export_id, exp.export_id);
        assert.equal(snapshot.items.pending[0].attempts, 1);
    });

    it('pending entries the old d3kOS export service wrote (file_path, attempts, next_retry) are kept, in our names, and sent when due', async () => {
        const exp = writeExport(layout);
        const nextRetry = '2026-11-20T10:15:00.000Z';
        fs.writeFileSync(
            layout.queueFile,
            JSON.stringify({
                pending: [{ export_id: exp.export_id, file_path: exp.export_file, created_at: exp.created_at, attempts: 2, last_attempt: '2026-11-20T10:00:00.000Z', next_retry: nextRetry }],
                failed: [],
            }),
        );
        const queue = new ExportQueue(layout);
        const snapshot = await queue.snapshot();
        assert.equal(snapshot.pending_count, 1);
        assert.deepEqual([snapshot.items.pending[0].export_id, snapshot.items.pending[0].attempts, snapshot.items.pending[0].next_retry_at], [exp.export_id, 2, nextRetry]);
        assert.equal(await queue.claimNext({ now: new Date('2026-11-20T10:14:59Z') }), null, 'not before its next_retry');
        const claimed = await queue.claimNext({ now: new Date(nextRetry) });
        assert.equal(claimed!.export_file, exp.export_file);
        const [entry] = readQueue(layout).uploading;
        assert.deepEqual([entry.export_file, entry.retry_count, entry.next_retry_at], [exp.export_file, 2, nextRetry]);
        assert.ok(!('file_path' in entry || 'attempts' in entry || 'next_retry' in entry), 'one name per fact in the rewritten file');
        assert.equal(fs.readdirSync(layout.exportsDir).filter((name) => name.includes('.unreadable-')).length, 0, 'nothing in it was unreadable');
    });

    it('an unreadable queue file is moved aside and kept, reported, and the queue goes on empty', async () => {
        fs.writeFileSync(layout.queueFile, '{"version":"1.0","pending":[{"export_id":"export_1"');
        const queue = new ExportQueue(layout);
        const problems: string[] = [];
        queue.onProblem((message) => problems.push(message));
        const snapshot = await queue.snapshot();
        assert.equal(snapshot.pending_count, 0);
        const kept = fs.readdirSync(layout.exportsDir).filter((name) => name.startsWith('export_queue.json.unreadable-'));
        assert.equal(kept.length, 1);
        assert.equal(fs.readFileSync(path.join(layout.exportsDir, kept[0]), 'utf8'), '{"version":"1.0","pending":[{"export_id":"export_1"');
        assert.equal(problems.length, 1);
        assert.match(problems[0], /damaged \(it is not valid JSON.*kept as .*export_queue\.json\.unreadable-/);
        // Kept once, not once per read.
        await queue.snapshot();
        assert.equal(fs.readdirSync(layout.exportsDir).filter((name) => name.includes('.unreadable-')).length, 1);
        await queue.enqueue(writeExport(layout));
        assert.equal(readQueue(layout).pending.length, 1);
    });

    it('an empty queue file (a torn write of the old service) is set aside, never a crash', async () => {
        fs.writeFileSync(layout.queueFile, '');
        const loaded = await loadQueueFile(layout.queueFile);
        assert.match(loaded.setAside!.reason, /the file is empty/);
        assert.equal(loaded.queue.pending.length, 0);
    });

    it('items that are not entries are dropped from a queue, and the original is kept for the installer', async () => {
        const exp = writeExport(layout);
        fs.writeFileSync(layout.queueFile, JSON.stringify({ version: '1.0', pending: [42, { export_file: exp.export_file }], failed: 'oops' }));
        const queue = new ExportQueue(layout);
        const snapshot = await queue.snapshot();
        assert.equal(snapshot.pending_count, 1);
        assert.equal(fs.readdirSync(layout.exportsDir).filter((name) => name.includes('.unreadable-')).length, 1);
        assert.equal(readQueue(layout).pending.length, 1, 'rewritten at once from what could be read');
    });

    it('entries left in uploading by a crash go back to pending at start, with no try used', async () => {
        const exp = writeExport(layout);
        const queue = new ExportQueue(layout);
        await queue.enqueue(exp);
        const claimed = await queue.claimNext();
        assert.equal(claimed!.status, 'uploading');
        assert.equal(readQueue(layout).uploading.length, 1, 'the claim is on disk before any upload starts');
        // Node-RED dies here; at the next start:
        const recovered = await new ExportQueue(layout).recover();
        assert.deepEqual(
            recovered.map((e) => e.export_id),
            [exp.export_id],
        );
        const file = readQueue(layout);
        assert.equal(file.uploading.length, 0);
        assert.equal(file.pending[0].status, 'pending');
        assert.equal(file.pending[0].retry_count, 0);
    });

    it('the same export queued twice is one entry', async () => {
        const queue = new ExportQueue(layout);
        const exp = writeExport(layout);
        await queue.enqueue(exp);
        const again = await queue.enqueue(exp);
        assert.equal(again.already_queued, true);
        assert.equal(readQueue(layout).pending.length, 1);
    });

    it('a message that is not an export is refused with the reason, and the queue is untouched', async () => {
        const queue = new ExportQueue(layout);
        await queue.enqueue(writeExport(layout));
        const before = fs.readFileSync(layout.queueFile, 'utf8');
        await assert.rejects(queue.enqueue({ export_id: 'export_x', export_file: 'relative.json' } as any), /msg\.export is missing or has a wrong .*export_file/);
        await assert.rejects(queue.enqueue('hello' as any), /msg\.export is not an export/);
        assert.equal(fs.readFileSync(layout.queueFile, 'utf8'), before);
    });
});
