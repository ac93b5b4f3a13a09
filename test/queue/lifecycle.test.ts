import assert from 'node:assert/strict';
import * as fs from 'fs';
import { ExportQueue } from '../../lib/queue/export-queue';
import { nextTryAt, parseRetryAfter, parseRetrySchedule } from '../../lib/queue/retry-schedule';
import { scratchFolder } from '../support/folders';
import { queueLayout, readQueue, writeExport } from './exports';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

describe("the queue over an export's life", () => {
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof queueLayout>;

    beforeEach(() => {
        scratch = scratchFolder('queue-life');
        layout = queueLayout(scratch.dir);
    });
    afterEach(() => scratch.remove());

    describe('the retry schedule', () => {
        it('is attempt 1 at once, attempt 2 after 5 min, attempt 3 after 15 min, then failed', async () => {
            const queue = new ExportQueue(layout);
            const t0 = new Date('2026-11-20T10:00:00Z');
            const exp = writeExport(layout);
            const { entry } = await queue.enqueue(exp, t0);
            assert.equal(entry.next_retry_at, t0.toISOString());

            const tries: Array<{ at: Date; status: string; next: string | null }> = [];
            let now = t0;
            for (let i = 0; i < 3; i++) {
                assert.equal(await queue.claimNext({ now: new Date(now.getTime() - 1) }), null, `attempt ${i + 1} is not due before its time`);
                const claimed = await queue.claimNext({ now });
                assert.ok(claimed, `attempt ${i + 1} is due at ${now.toISOString()}`);
                const settled = (await queue.settle(claimed.queue_id, { kind: 'retry', reason: 'the central API answered 503' }, now))!;
                tries.push({ at: now, status: settled.status, next: settled.next_retry_at });
                if (settled.next_retry_at) now = new Date(settled.next_retry_at);
            }
            assert.deepEqual(
                tries.map((t) => [t.status, t.next && (Date.parse(t.next) - t.at.getTime()) / MINUTE]),
                [
                    ['pending', 5],
                    ['pending', 15],
                    ['failed', null],
                ],
            );
            const file = readQueue(layout);
            assert.equal(file.failed.length, 1);
            assert.equal(file.failed[0].retry_count, 3);
            assert.match(file.failed[0].last_error, /503 \(gave up after 3 tries\)/);
            assert.ok(file.failed[0].failed_at);
        });

        it('a released attempt (central out of reach) uses no try', async () => {
            const queue = new ExportQueue(layout);
            await queue.enqueue(writeExport(layout));
            for (let i = 0; i < 10; i++) {
                const claimed = (await queue.claimNext())!;
                await queue.settle(claimed.queue_id, { kind: 'released', reason: 'the central API is out of reach' });
            }
            const [entry] = readQueue(layout).pending;
            assert.equal(entry.retry_count, 0);
            assert.equal(entry.status, 'pending');
        });

        it("a server's Retry-After longer than the schedule is honoured", async () => {
            const queue = new ExportQueue(layout);
            const t0 = new Date('2026-11-20T10:00:00Z');
            await queue.enqueue(writeExport(layout), t0);
            const claimed = (await queue.claimNext({ now: t0 }))!;
            const settled = (await queue.settle(claimed.queue_id, { kind: 'retry', reason: '429', retry_after_ms: 40 * MINUTE }, t0))!;
            assert.equal(Date.parse(settled.next_retry_at!) - t0.getTime(), 40 * MINUTE);
        });

        it('a 4xx (failed at once) does not wait for the schedule', async () => {
            const queue = new ExportQueue(layout);
            await queue.enqueue(writeExport(layout));
            const claimed = (await queue.claimNext())!;
            const settled = (await queue.settle(claimed.queue_id, { kind: 'failed', reason: 'the central API refused the export: 401' }))!;
            assert.equal(settled.status, 'failed');
            assert.equal(readQueue(layout).failed[0].last_error, 'the central API refused the export: 401');
        });

        it('is read from "0,300,900" text, empty meaning the default, and nonsense is refused with an example', () => {
            assert.deepEqual(parseRetrySchedule(''), [0, 300, 900]);
            assert.deepEqual(parseRetrySchedule(undefined), [0, 300, 900]);
            assert.deepEqual(parseRetrySchedule(' 0, 1 ,2.5 '), [0, 1, 2.5]);
            assert.throws(() => parseRetrySchedule('0,,5'), /write it like "0,300,900"/);
            assert.throws(() => parseRetrySchedule('soon'), /not a list of seconds/);
            assert.throws(() => parseRetrySchedule('-5'), /not a list of seconds/);
        });

        it('Retry-After is read as seconds or as an HTTP date; nonsense leaves it to the schedule', () => {
            const now = new Date('2026-11-20T10:00:00Z');
            assert.equal(parseRetryAfter('120', now), 120_000);
            assert.equal(parseRetryAfter('Fri, 20 Nov 2026 10:02:00 GMT', now), 120_000);
            assert.equal(parseRetryAfter('Fri, 20 Nov 2026 09:00:00 GMT', now), 0);
            assert.equal(parseRetryAfter('later', now), null);
            assert.equal(parseRetryAfter(undefined, now), null);
            assert.equal(parseRetryAfter('99999999', now), 24 * 60 * MINUTE);
            assert.equal(nextTryAt([0, 300], 2, now), null);
        });
    });

    describe('superseding', () => {
        it('a newer pending incremental export replaces older pending incremental ones: their entries and files go, the history says why', async () => {
            const queue = new ExportQueue(layout);
            const day = (n: number) => new Date(Date.UTC(2026, 10, 1 + n, 3));
            const older = [writeExport(layout, { mode: 'incremental', createdAt: day(0) }), writeExport(layout, { mode: 'incremental', createdAt: day(1) })];
            const full = writeExport(layout, { mode: 'full', createdAt: day(1) });
            for (const exp of [...older, full]) await queue.enqueue(exp);
            const newest = writeExport(layout, { mode: 'incremental', createdAt: day(2) });
            const result = await queue.enqueue(newest);
            assert.deepEqual(
                result.superseded.map((e) => e.export_id),
                [older[1].export_id],
                'the first was already replaced by the second',
            );

            const pending = readQueue(layout).pending.map((e: any) => e.export_id);
            assert.deepEqual(pending.sort(), [full.export_id, newest.export_id].sort(), 'a full export is never superseded');
            for (const exp of older) assert.equal(fs.existsSync(exp.export_file), false, 'a superseded file is deleted');
            assert.ok(fs.existsSync(full.export_file));
            const history = await queue.history();
            assert.deepEqual(
                history
                    .filter((h) => h.status === 'superseded')
                    .map((h) => [h.export_id, h.superseded_by])
                    .sort(),
                [
                    [older[0].export_id, older[1].export_id],
                    [older[1].export_id, newest.export_id],
                ],
            );
        });

        it('an incremental export arriving after a newer one is superseded itself', async () => {
            const queue = new ExportQueue(layout);
            const newer = writeExport(layout, { mode: 'incremental', createdAt: new Date('2026-11-02T03:00:00Z') });
            const late = writeExport(layout, { mode: 'incremental', createdAt: new Date('2026-11-01T03:00:00Z') });
            await queue.enqueue(newer);
            const result = await queue.enqueue(late);
            assert.deepEqual(
                result.superseded.map((e) => e.export_id),
                [late.export_id],
            );
            assert.deepEqual(
                readQueue(layout).pending.map((e: any) => e.export_id),
                [newer.export_id],
            );
        });

        it('an incremental export being uploaded is not superseded', async () => {
            const queue = new ExportQueue(layout);
            const inFlight = writeExport(layout, { mode: 'incremental', createdAt: new Date('2026-11-01T03:00:00Z') });
            await queue.enqueue(inFlight);
            await queue.claimNext();
            await queue.enqueue(writeExport(layout, { mode: 'incremental', createdAt: new Date('2026-11-02T03:00:00Z') }));
            assert.equal(readQueue(layout).uploading[0].export_id, inFlight.export_id);
            assert.ok(fs.existsSync(inFlight.export_file));
        });
    });

    describe('superseding when the next export is claimed', () => {
        const day = (n: number) => new Date(Date.UTC(2026, 10, 1 + n, 3));

        it('an older incremental export back in pending after a retry is superseded by the newer one: entry and file go, the history says why', async () => {
            const queue = new ExportQueue(layout, { retrySchedule: [0, 0] });
            const older = writeExport(layout, { mode: 'incremental', createdAt: day(0) });
            const full = writeExport(layout, { mode: 'full', createdAt: day(0) });
            await queue.enqueue(older);
            const inFlight = (await queue.claimNext({ force: true }))!;
            assert.equal(inFlight.export_id, older.export_id);
            const newer = writeExport(layout, { mode: 'incremental', createdAt: day(1) });
            await queue.enqueue(newer);
            await queue.enqueue(full);
            assert.deepEqual(
                (await queue.history()).filter((h) => h.status === 'superseded'),
                [],
                'not while it was being uploaded',
            );
            await queue.settle(inFlight.queue_id, { kind: 'retry', reason: 'the central API answered 503' });

            const claimed: string[] = [];
            for (let next; (next = await queue.claimNext({ force: true }));) claimed.push(next.export_id);
            assert.deepEqual(claimed.sort(), [full.export_id, newer.export_id].sort(), 'the full export is never superseded');
            assert.equal(fs.existsSync(older.export_file), false, 'a superseded file is deleted');
            const file = readQueue(layout);
            assert.ok(![...file.pending, ...file.uploading].some((e: any) => e.export_id === older.export_id));
            const superseded = (await queue.history()).filter((h) => h.status === 'superseded');
            assert.deepEqual(
                superseded.map((h) => [h.export_id, h.superseded_by]),
                [[older.export_id, newer.export_id]],
            );
        });

        it('an older incremental export brought back by "retry failed" is superseded too', async () => {
            const queue = new ExportQueue(layout, { retrySchedule: [0] });
            const older = writeExport(layout, { mode: 'incremental', createdAt: day(0) });
            await queue.enqueue(older);
            const claimed = (await queue.claimNext())!;
            await queue.settle(claimed.queue_id, { kind: 'failed', reason: 'the central API refused the export: 400' });
            const newer = writeExport(layout, { mode: 'incremental', createdAt: day(1) });
            await queue.enqueue(newer);
            await queue.retryFailed();
            assert.equal((await queue.claimNext())!.export_id, newer.export_id);
            assert.deepEqual(readQueue(layout).pending, []);
            assert.equal(fs.existsSync(older.export_file), false);
        });
    });

    describe('retry-failed (failed exports could never be retried)', () => {
        it('moves every failed export back to pending with fresh tries', async () => {
            const queue = new ExportQueue(layout, { retrySchedule: [0] });
            for (let i = 0; i < 2; i++) {
                await queue.enqueue(writeExport(layout));
                const claimed = (await queue.claimNext())!;
                await queue.settle(claimed.queue_id, { kind: 'retry', reason: 'the central API answered 500' });
            }
            assert.equal(readQueue(layout).failed.length, 2);
            const retried = await queue.retryFailed();
            assert.equal(retried.length, 2);
            const file = readQueue(layout);
            assert.equal(file.failed.length, 0);
            assert.deepEqual(
                file.pending.map((e: any) => [e.status, e.retry_count, 'failed_at' in e]),
                [
                    ['pending', 0, false],
                    ['pending', 0, false],
                ],
            );
            assert.ok(await queue.claimNext(), 'a retried export is due at once');
        });
    });

    describe('cleanup (history grew without bound)', () => {
        it('prunes completed entries after 30 days and failed ones after 7, with their export files', async () => {
            const queue = new ExportQueue(layout, { retrySchedule: [0] });
            const now = new Date('2026-12-31T12:00:00Z');
            const daysAgo = (n: number) => new Date(now.getTime() - n * DAY);
            const settleAt = async (when: Date, kind: 'completed' | 'failed') => {
                const exp = writeExport(layout, { createdAt: when });
                await queue.enqueue(exp, when);
                const claimed = (await queue.claimNext({ now: when }))!;
                await queue.settle(claimed.queue_id, kind === 'completed' ? { kind, import_id: 'i', records_imported: 1 } : { kind, reason: '400' }, when);
                return exp;
            };
            const oldDone = await settleAt(daysAgo(31), 'completed');
            const recentDone = await settleAt(daysAgo(29), 'completed');
            const oldFailed = await settleAt(daysAgo(8), 'failed');
            const recentFailed = await settleAt(daysAgo(6), 'failed');
            const removed = await queue.cleanup(now);
            assert.deepEqual(removed, { removed_completed: 1, removed_failed: 1 });
            const file = readQueue(layout);
            assert.deepEqual(
                file.completed.map((e: any) => e.export_id),
                [recentDone.export_id],
            );
            assert.deepEqual(
                file.failed.map((e: any) => e.export_id),
                [recentFailed.export_id],
            );
            assert.equal(fs.existsSync(oldDone.export_file), false);
            assert.equal(fs.existsSync(oldFailed.export_file), false);
            assert.ok(fs.existsSync(recentDone.export_file) && fs.existsSync(recentFailed.export_file));
        });

        it('never deletes a file outside data/exports, whatever a queue file says', async () => {
            const outside = `${scratch.dir}/precious.json`;
            fs.writeFileSync(outside, '{}');
            fs.mkdirSync(layout.exportsDir, { recursive: true });
            const old = '2026-01-01T00:00:00.000Z';
            fs.writeFileSync(layout.queueFile, JSON.stringify({ version: '1.0', pending: [], uploading: [], completed: [{ export_file: outside, completed_at: old }], failed: [] }));
            const removed = await new ExportQueue(layout).cleanup(new Date('2026-12-01T00:00:00Z'));
            assert.equal(removed.removed_completed, 1);
            assert.ok(fs.existsSync(outside));
        });

        it('keeps the history bounded, newest kept, and answers it newest first', async () => {
            const queue = new ExportQueue(layout, { historyLimit: 25, completedKept: 10 });
            const ids: string[] = [];
            for (let i = 0; i < 40; i++) {
                const exp = writeExport(layout);
                ids.push(exp.export_id);
                await queue.enqueue(exp);
                const claimed = (await queue.claimNext())!;
                await queue.settle(claimed.queue_id, { kind: 'completed', import_id: `imp-${i}`, records_imported: i });
            }
            const stored = JSON.parse(fs.readFileSync(layout.historyFile, 'utf8'));
            assert.equal(stored.exports.length, 25);
            const history = await queue.history();
            assert.deepEqual(
                history.map((h) => h.export_id),
                ids.slice(-25).reverse(),
            );
            assert.equal(history[0].import_id, 'imp-39');
            assert.equal(history[0].records_imported, 39);
            assert.ok(history[0].completed_at && history[0].archived_at);
            assert.equal(readQueue(layout).completed.length, 10, 'the queue file keeps only the newest completed entries');
            assert.equal(fs.readdirSync(layout.exportFilesDir).length, 10, 'the files of entries trimmed from the queue are deleted with them');
        });

        it('a damaged history file is kept aside and replaced, never a reason to stop uploading', async () => {
            fs.mkdirSync(layout.exportsDir, { recursive: true });
            fs.writeFileSync(layout.historyFile, '{"exports": [');
            const queue = new ExportQueue(layout);
            assert.deepEqual(await queue.history(), []);
            await queue.enqueue(writeExport(layout));
            const claimed = (await queue.claimNext())!;
            await queue.settle(claimed.queue_id, { kind: 'completed', import_id: null, records_imported: null });
            assert.equal((await queue.history()).length, 1);
            assert.equal(fs.readdirSync(layout.exportsDir).filter((n) => n.startsWith('export_history.json.unreadable-')).length, 1);
        });
    });

    describe('the history answer (the data page expected fields the API no longer returned)', () => {
        it('lists only uploads, oldest first, as the original page reads it, and every record newest first in recent', async () => {
            const queue = new ExportQueue(layout, { retrySchedule: [0] });
            const day = (n: number) => new Date(Date.UTC(2026, 10, 1 + n, 3));
            const settleOne = async (exp: ReturnType<typeof writeExport>, kind: 'completed' | 'failed', at: Date) => {
                await queue.enqueue(exp, at);
                const claimed = (await queue.claimNext({ now: at }))!;
                await queue.settle(claimed.queue_id, kind === 'completed' ? { kind, import_id: 'i', records_imported: 1 } : { kind, reason: '400' }, at);
            };
            const first = writeExport(layout, { createdAt: day(0) });
            const refused = writeExport(layout, { createdAt: day(1) });
            const second = writeExport(layout, { createdAt: day(2) });
            await settleOne(first, 'completed', day(0));
            await settleOne(refused, 'failed', day(1));
            await settleOne(second, 'completed', day(2));
            const replaced = writeExport(layout, { mode: 'incremental', createdAt: day(3) });
            const newer = writeExport(layout, { mode: 'incremental', createdAt: day(4) });
            await queue.enqueue(replaced);
            await queue.enqueue(newer);

            const answer = await queue.uploadHistory();
            assert.deepEqual(
                answer.history.map((h) => h.export_id),
                [first.export_id, second.export_id],
            );
            assert.deepEqual(
                answer.recent.map((h) => [h.export_id, h.status]),
                [
                    [replaced.export_id, 'superseded'],
                    [second.export_id, 'completed'],
                    [refused.export_id, 'failed'],
                    [first.export_id, 'completed'],
                ],
            );
        });

        it('keeps the last 50 uploads, and counts the old Node service\'s "success" records as uploads', async () => {
            fs.mkdirSync(layout.exportsDir, { recursive: true });
            const old = Array.from({ length: 60 }, (_, i) => ({
                export_id: `export_old_${i}`,
                file_path: `/opt/d3kos/data/exports/export_old_${i}.json`,
                archived_at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
                status: i % 10 === 9 ? 'failed' : 'success',
            }));
            fs.writeFileSync(layout.historyFile, JSON.stringify(old));
            const answer = await new ExportQueue(layout).uploadHistory();
            const uploads = old.filter((r) => r.status === 'success').map((r) => r.export_id);
            assert.deepEqual(
                answer.history.map((h) => h.export_id),
                uploads.slice(-50),
            );
            assert.equal(answer.recent.length, 50);
            assert.equal(answer.recent[0].export_id, 'export_old_59');
        });
    });

    describe('the status snapshot', () => {
        it("has the page's counts, the scripts' counts, the next export due, and each item's tries", async () => {
            const queue = new ExportQueue(layout);
            const first = writeExport(layout, { createdAt: new Date('2026-11-01T00:00:00Z') });
            await queue.enqueue(first);
            await queue.enqueue(writeExport(layout, { createdAt: new Date('2026-11-02T00:00:00Z') }));
            const claimed = (await queue.claimNext())!;
            await queue.settle(claimed.queue_id, { kind: 'retry', reason: 'the central API answered 502' });
            const s = await queue.snapshot();
            assert.equal(s.pending, 2);
            assert.equal(s.pending_count, 2);
            assert.equal(s.failed, 0);
            assert.equal(s.failed_count, 0);
            assert.equal(s.uploading_count, 0);
            assert.equal(s.completed_count, 0);
            assert.notEqual(s.next_pending!.export_id, first.export_id, 'the export waiting 5 minutes is not next');
            const retried = s.items.pending.find((i) => i.export_id === first.export_id)!;
            assert.equal(retried.attempts, 1);
            assert.equal(retried.max_attempts, 3);
            assert.equal(retried.next_retry, retried.next_retry_at);
            assert.match(retried.last_error!, /502/);
        });
    });
});
