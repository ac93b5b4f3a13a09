import assert from 'node:assert/strict';
import * as fs from 'fs';
import { ExportQueue } from '../../lib/queue/export-queue';
import { appendHistory, historyRecord } from '../../lib/queue/history';
import { loadQueueFile } from '../../lib/queue/queue-file';
import { scratchFolder } from '../support/folders';
import { queueLayout, readQueue, writeExport } from './exports';

/**
 * A settle writes two files, the queue and the history. A kill between them
 * must never lose an upload's record: completed entries are trimmed from the
 * queue file later, and then the history is the only place they live on.
 */
describe('the history is written before the queue write that can drop an entry', () => {
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof queueLayout>;

    beforeEach(() => {
        scratch = scratchFolder('queue-history-first');
        layout = queueLayout(scratch.dir);
    });
    afterEach(() => scratch.remove());

    const historyOf = () => (fs.existsSync(layout.historyFile) ? JSON.parse(fs.readFileSync(layout.historyFile, 'utf8')).exports : []) as any[];

    async function upload(queue: ExportQueue, importId: string) {
        const exp = writeExport(layout);
        await queue.enqueue(exp);
        const claimed = (await queue.claimNext({ force: true }))!;
        await queue.settle(claimed.queue_id, { kind: 'completed', import_id: importId, records_imported: 1 });
        return exp;
    }

    it('an upload whose history write was cut off (killed right after the queue write) is in the history once trimmed from the queue', async () => {
        const queue = new ExportQueue(layout, { completedKept: 2 });
        const cut = await upload(queue, 'imp-cut');
        // The state a kill between the two writes of the old order left: completed in the queue, no record.
        fs.rmSync(layout.historyFile);
        assert.deepEqual(
            readQueue(layout).completed.map((e: any) => e.export_id),
            [cut.export_id],
        );

        await upload(queue, 'imp-2');
        const last = await upload(queue, 'imp-3');
        const file = readQueue(layout);
        assert.equal(file.completed.length, 2);
        assert.ok(!file.completed.some((e: any) => e.export_id === cut.export_id), 'trimmed from the queue file');
        const record = historyOf().find((r) => r.export_id === cut.export_id);
        assert.ok(record, 'the trimmed upload lives on in the history');
        assert.equal(record.status, 'completed');
        assert.equal(record.import_id, 'imp-cut');
        assert.equal(record.archived_at, record.completed_at, 'told as its settle would have told it');
        assert.deepEqual(
            historyOf()
                .map((r) => r.export_id)
                .at(-1),
            last.export_id,
            'in its place by time: the newest stays last',
        );
        assert.equal(fs.existsSync(cut.export_file), false, 'its file goes with it');
    });

    it('a kill between the history write and the queue write replays without a second record', async () => {
        const queue = new ExportQueue(layout);
        const exp = writeExport(layout);
        await queue.enqueue(exp);
        const claimed = (await queue.claimNext())!;
        // The crash point of the new order: the history holds the upload, the queue still says uploading.
        const done = { ...claimed, status: 'completed' as const, completed_at: new Date().toISOString(), import_id: 'imp-1', records_imported: 1 };
        await appendHistory(layout.historyFile, [historyRecord(done, 'completed', new Date())]);

        // Node-RED starts again: back to pending, sent again, the server answers "already imported".
        assert.equal((await queue.recover()).length, 1);
        const again = (await queue.claimNext())!;
        await queue.settle(again.queue_id, { kind: 'completed', import_id: 'imp-1', records_imported: 1 });
        assert.deepEqual(
            historyOf().map((r) => [r.export_id, r.status]),
            [[exp.export_id, 'completed']],
        );
        assert.deepEqual(
            readQueue(layout).completed.map((e: any) => e.export_id),
            [exp.export_id],
        );
    });

    it('an export that fails again after a retry from the dashboard keeps both failures', async () => {
        const queue = new ExportQueue(layout, { retrySchedule: [0] });
        const exp = writeExport(layout);
        await queue.enqueue(exp);
        const t1 = new Date(Date.now() + 1000);
        const t2 = new Date(Date.now() + 2000);
        await queue.settle((await queue.claimNext({ force: true }))!.queue_id, { kind: 'failed', reason: 'HTTP 400' }, t1);
        await queue.retryFailed(t1);
        await queue.settle((await queue.claimNext({ force: true }))!.queue_id, { kind: 'failed', reason: 'HTTP 400' }, t2);
        assert.deepEqual(
            historyOf().map((r) => [r.status, r.failed_at]),
            [
                ['failed', t1.toISOString()],
                ['failed', t2.toISOString()],
            ],
        );
    });

    it('while the history cannot be saved, nothing leaves the queue file; once it can, the entries go with their records', async () => {
        const queue = new ExportQueue(layout, { completedKept: 1 });
        const problems: string[] = [];
        queue.onProblem((message) => problems.push(message));
        // A history that cannot be replaced: a folder with something in it where the file should be.
        fs.mkdirSync(`${layout.historyFile}/x`, { recursive: true });
        const a = await upload(queue, 'imp-a');
        const b = await upload(queue, 'imp-b');
        assert.ok(problems.length > 0 && problems.every((p) => p.startsWith('The export history could not be saved')));
        assert.deepEqual(
            readQueue(layout).completed.map((e: any) => e.export_id),
            [a.export_id, b.export_id],
            'kept, uploads still count',
        );
        assert.ok(fs.existsSync(a.export_file));

        fs.rmSync(layout.historyFile, { recursive: true });
        const c = await upload(queue, 'imp-c');
        assert.deepEqual(
            readQueue(layout).completed.map((e: any) => e.export_id),
            [c.export_id],
        );
        assert.deepEqual(
            historyOf().map((r) => [r.export_id, r.import_id]),
            [
                [a.export_id, 'imp-a'],
                [b.export_id, 'imp-b'],
                [c.export_id, 'imp-c'],
            ],
        );
        assert.equal(fs.existsSync(a.export_file) || fs.existsSync(b.export_file), false);
    });

    it('cleanup takes old entries out only with their records, and a failed one retried in the same batch stays', async () => {
        const queue = new ExportQueue(layout, { retrySchedule: [0] });
        const now = new Date('2026-12-31T12:00:00Z');
        const old = new Date(now.getTime() - 40 * 24 * 3600 * 1000);
        const done = writeExport(layout, { createdAt: old });
        const failed = writeExport(layout, { createdAt: old });
        for (const [exp, kind] of [
            [done, 'completed'],
            [failed, 'failed'],
        ] as const) {
            await queue.enqueue(exp, old);
            const claimed = (await queue.claimNext({ now: old, force: true }))!;
            await queue.settle(claimed.queue_id, kind === 'completed' ? { kind, import_id: 'i', records_imported: 1 } : { kind, reason: '400' }, old);
        }
        fs.rmSync(layout.historyFile);
        // The snapshot holds the store while the other two arrive, so they make one batch.
        const [, , retried] = await Promise.all([queue.snapshot(now), queue.cleanup(now), queue.retryFailed(now)]);
        assert.deepEqual(
            retried.map((e) => e.export_id),
            [failed.export_id],
        );
        const loaded = (await loadQueueFile(layout.queueFile)).queue;
        assert.deepEqual(loaded.completed, []);
        assert.deepEqual(
            loaded.pending.map((e) => e.export_id),
            [failed.export_id],
            'retried, not lost',
        );
        assert.ok(fs.existsSync(failed.export_file));
        assert.deepEqual(
            historyOf()
                .map((r) => [r.export_id, r.status])
                .sort(),
            [
                [done.export_id, 'completed'],
                [failed.export_id, 'failed'],
            ].sort(),
        );
    });
});
