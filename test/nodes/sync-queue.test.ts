import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { helper, nextError, nextMessage } from '../support/node-red';
import { scratchFolder } from '../support/folders';
import { ExportQueue } from '../../lib/queue/export-queue';
import { queueLayout, readQueue, writeExport } from '../queue/exports';
import { closedPortUrl, FakeCentral } from '../upload/central-server';
import configNode = require('../../nodes/config/config');
import syncQueueNode = require('../../nodes/sync-queue/sync-queue');

const NODES = [configNode, syncQueueNode];
const TOKEN = 'tok-node-test-73a1';

describe('d3kos-sync-queue node', function () {
    this.timeout(20000);
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof queueLayout>;
    let central: FakeCentral;

    beforeEach(async () => {
        scratch = scratchFolder('sync-queue-node');
        layout = queueLayout(path.join(scratch.dir, 'd3kos'));
        setTier(2);
        central = await FakeCentral.start();
    });
    afterEach(async () => {
        await helper.unload();
        await central.close();
        scratch.remove();
    });

    function setTier(tier: number) {
        fs.mkdirSync(path.dirname(layout.license), { recursive: true });
        fs.writeFileSync(layout.license, JSON.stringify({ installation_id: 'd3c0de5eab0a7001', tier }));
    }

    async function load(options: { centralUrl?: string; pollSeconds?: string; retrySchedule?: string; timeoutSeconds?: string } = {}) {
        await helper.load(
            NODES,
            [
                { id: 'boat', type: 'd3kos-config', root: layout.root, mediaDir: layout.mediaDir, centralUrl: options.centralUrl ?? central.url },
                {
                    id: 'queue',
                    type: 'd3kos-sync-queue',
                    boat: 'boat',
                    pollSeconds: options.pollSeconds ?? '3600',
                    retrySchedule: options.retrySchedule ?? '0,0,0',
                    timeoutSeconds: options.timeoutSeconds ?? '',
                    wires: [['answers'], ['uploads'], ['changes']],
                },
                { id: 'answers', type: 'helper' },
                { id: 'uploads', type: 'helper' },
                { id: 'changes', type: 'helper' },
            ],
            { boat: { deviceToken: TOKEN } },
        );
        return { queue: helper.getNode('queue'), answers: helper.getNode('answers'), uploads: helper.getNode('uploads'), changes: helper.getNode('changes') };
    }

    async function ask(action: string): Promise<any> {
        const answer = nextMessage(helper.getNode('answers'));
        helper.getNode('queue').receive({ action });
        return (await answer).payload;
    }

    /** Output 3 messages until one satisfies `test`. */
    function changeWhere(node: any, test: (payload: any) => boolean, ms = 10000): Promise<any> {
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no queue change like that arrived')), ms);
            const listener = (msg: any) => {
                if (!test(msg.payload)) return;
                clearTimeout(timer);
                node.removeListener('input', listener);
                resolve(msg.payload);
            };
            node.on('input', listener);
        });
    }

    it('an export is queued and answered on output 1 as POST /export/generate answers, then uploaded: output 2 reports it, output 3 shows it', async () => {
        const { queue, answers, uploads, changes } = await load();
        const exp = writeExport(layout);
        const answered = nextMessage(answers);
        const reported = nextMessage(uploads);
        const drained = changeWhere(changes, (p) => p.completed_count === 1 && p.pending_count === 0);
        queue.receive({ export: exp, payload: { success: true, export_id: exp.export_id, sha256: exp.sha256, categories: { boatlog: { entry_count: 3 } } }, _linkSource: ['kept'] });
        const answer = await answered;
        assert.deepEqual(answer._linkSource, ['kept'], 'the same message goes back, so a link "return" finds its caller');
        const p = answer.payload;
        assert.equal(p.success, true);
        assert.equal(p.export_id, exp.export_id);
        assert.match(p.queue_id, /^q_/);
        assert.equal(p.export_file, exp.export_file);
        assert.equal(p.category_count, exp.category_count);
        assert.deepEqual(p.statistics, exp.statistics);
        assert.equal(p.mode, 'full');
        assert.equal(p.sha256, exp.sha256, 'what the export node said is kept');
        assert.deepEqual(p.categories, { boatlog: { entry_count: 3 } });

        const upload = (await reported).payload;
        assert.equal(upload.outcome, 'completed');
        assert.equal(upload.export_id, exp.export_id);
        assert.equal(upload.import_id, 'imp-1');
        const status = await drained;
        assert.equal(status.last_upload.export_id, exp.export_id);
        assert.equal(status.central_reachable, true);
        assert.equal(central.uploads[0].headers.authorization, `Bearer ${TOKEN}`);
        assert.ok(!JSON.stringify([answer, upload, status]).includes(TOKEN), 'the device token is in no message');
        assert.ok(!fs.readFileSync(layout.queueFile, 'utf8').includes(TOKEN));
    });

    it('exports left pending are uploaded as soon as the node starts (the boot upload raced the service port for a week)', async () => {
        const waiting = new ExportQueue(layout);
        await waiting.enqueue(writeExport(layout));
        await waiting.claimNext(); // left "uploading" by a power cut
        const { changes } = await load();
        const status = await changeWhere(changes, (p) => p.completed_count === 1);
        assert.equal(status.uploading_count, 0);
        assert.equal(central.uploads.length, 1);
    });

    it("status answers the page's and the scripts' fields, with each item's tries", async () => {
        await load({ centralUrl: await closedPortUrl() });
        const exp = writeExport(layout);
        const answered = nextMessage(helper.getNode('answers'));
        helper.getNode('queue').receive({ export: exp });
        await answered;
        const status = await ask('status');
        assert.equal(status.success, true);
        for (const field of ['pending', 'failed', 'pending_count', 'uploading_count', 'completed_count', 'failed_count']) assert.equal(typeof status[field], 'number', field);
        assert.equal(status.pending, 1);
        assert.equal(status.next_pending.export_id, exp.export_id);
        assert.ok('next_retry_at' in status.next_pending);
        assert.deepEqual(Object.keys(status.items).sort(), ['completed', 'failed', 'pending', 'uploading']);
        assert.equal(status.items.pending[0].attempts, 0);
        assert.ok('last_upload' in status && 'central_reachable' in status);
    });

    it('process while the central API is out of reach answers success, uses no try and shows it (the network check did not gate uploads)', async () => {
        const { queue } = await load({ centralUrl: await closedPortUrl(), retrySchedule: '0' });
        const statuses: any[] = [];
        queue.on('call:status', (call: any) => statuses.push(call.args[0]));
        const answered = nextMessage(helper.getNode('answers'));
        queue.receive({ export: writeExport(layout) });
        await answered;
        for (let i = 0; i < 3; i++) {
            const result = await ask('process');
            assert.equal(result.success, true);
            assert.match(result.message, /out of reach/);
            assert.equal(result.processed, 0);
            assert.equal(result.pending_count, 1);
            assert.equal(result.central_reachable, false);
        }
        assert.equal(readQueue(layout).pending[0].retry_count, 0);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(statuses.at(-1).text, 'sync-queue.status.outOfReach');
    });

    it('retry-failed sends failed exports again (failed exports could never be retried)', async () => {
        const { uploads } = await load({ retrySchedule: '0' });
        central.answer = () => ({ status: 500, body: { error: 'down for maintenance' } });
        const failed = nextMessage(uploads);
        helper.getNode('queue').receive({ export: writeExport(layout) });
        assert.equal((await failed).payload.outcome, 'failed');
        assert.match((await failed).payload.reason, /500.*down for maintenance/);
        central.answer = () => ({ status: 200, body: { status: 'success', import_id: 'imp-2', records_imported: 1 } });
        const completed = nextMessage(uploads);
        const answer = await ask('retry-failed');
        assert.equal(answer.success, true);
        assert.equal(answer.retried, 1);
        assert.equal((await completed).payload.outcome, 'completed');
    });

    it('cleanup answers what it removed, and history answers the uploads oldest first (as the Data Management page reads them) and every record newest first in recent', async () => {
        await load({ retrySchedule: '0' });
        const sent: string[] = [];
        // Uploaded, refused (400: failed at once), uploaded.
        central.answer = (_, n) => (n === 1 ? { status: 400, body: { error: 'malformed export' } } : { status: 200, body: { status: 'success', import_id: `imp-${n}`, records_imported: 1 } });
        for (let i = 0; i < 3; i++) {
            const exp = writeExport(layout);
            sent.push(exp.export_id);
            const reported = nextMessage(helper.getNode('uploads'));
            helper.getNode('queue').receive({ export: exp });
            await reported;
        }
        const cleanup = await ask('cleanup');
        assert.deepEqual([cleanup.success, cleanup.removed_completed, cleanup.removed_failed], [true, 0, 0]);
        const history = await ask('history');
        assert.equal(history.success, true);
        assert.equal(history.count, 2);
        assert.deepEqual(
            history.history.map((h: any) => h.export_id),
            [sent[0], sent[2]],
            'only uploads, oldest first: the page shows history.slice(-10).reverse() as successes',
        );
        assert.deepEqual(
            history.recent.map((h: any) => [h.export_id, h.status]),
            [
                [sent[2], 'completed'],
                [sent[1], 'failed'],
                [sent[0], 'completed'],
            ],
        );
        assert.deepEqual(
            Object.keys(history.history[0]).filter((k) => ['export_id', 'queue_id', 'status', 'completed_at', 'file_size_bytes', 'category_count', 'records_imported', 'import_id'].includes(k)).length,
            8,
        );
    });

    it('an unknown action is an error a Catch node sees, with status code 400', async () => {
        const { queue } = await load();
        const error = nextError(queue);
        const msg: any = { action: 'explode' };
        queue.receive(msg);
        assert.match((await error).message, /no action "explode"; use one of status, process, retry-failed, cleanup, history/);
    });

    it('a message with neither an export nor an action is refused with what it needs', async () => {
        const { queue } = await load();
        const error = nextError(queue);
        queue.receive({ payload: 'hello' });
        assert.match((await error).message, /needs msg\.export .* or msg\.action/);
    });

    it('tier 0: nothing is uploaded, the status shows it, and process is refused with 403', async () => {
        setTier(0);
        const { queue } = await load();
        const statuses: any[] = [];
        queue.on('call:status', (call: any) => statuses.push(call.args[0]));
        const answered = nextMessage(helper.getNode('answers'));
        queue.receive({ export: writeExport(layout) });
        await answered;
        await new Promise((r) => setTimeout(r, 400));
        assert.equal(statuses.at(-1).text, 'sync-queue.status.tierTooLow');
        const error = nextError(queue);
        queue.receive({ action: 'process' });
        assert.match((await error).message, /Tier 1 or higher; this boat is Tier 0/);
        assert.equal(central.uploads.length + central.healthChecks, 0);
        assert.equal(readQueue(layout).pending.length, 1);
    });

    it('no central URL: exports stay queued and the status says so', async () => {
        const { queue } = await load({ centralUrl: '' });
        const statuses: any[] = [];
        queue.on('call:status', (call: any) => statuses.push(call.args[0]));
        const answered = nextMessage(helper.getNode('answers'));
        queue.receive({ export: writeExport(layout) });
        await answered;
        const result = await ask('process');
        assert.match(result.message, /No central API is set/);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(statuses.at(-1).text, 'sync-queue.status.noCentral');
    });

    it('closing during an upload aborts it and leaves the export pending on disk before close completes', async () => {
        central.answer = () => 'never-answer';
        await load({ timeoutSeconds: '25' });
        helper.getNode('queue').receive({ export: writeExport(layout) });
        while (central.uploads.length === 0) await new Promise((r) => setTimeout(r, 10));
        const started = Date.now();
        await helper.unload();
        assert.ok(Date.now() - started < 15000, 'close did not wait for the upload timeout');
        const file = readQueue(layout);
        assert.equal(file.uploading.length, 0);
        assert.equal(file.pending.length, 1);
        assert.equal(file.pending[0].retry_count, 0);
    });

    it('an unreadable queue file at deploy is kept aside and reported, the node still queues, and the warning clears once the queue is written fine again', async () => {
        fs.mkdirSync(layout.exportsDir, { recursive: true });
        fs.writeFileSync(layout.queueFile, 'PK\u0003\u0004 not a queue');
        const statuses: any[] = [];
        const warnings: string[] = [];
        const { queue } = await load({ centralUrl: '' });
        queue.on('call:warn', (call: any) => warnings.push(String(call.args[0])));
        queue.on('call:status', (call: any) => statuses.push(call.args[0]));
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(fs.readdirSync(layout.exportsDir).filter((n) => n.startsWith('export_queue.json.unreadable-')).length, 1);
        assert.equal(statuses.at(-1).text, 'sync-queue.status.queueFileSetAside');
        assert.match((await ask('status')).queue_file_problem, /kept as/);

        const answered = nextMessage(helper.getNode('answers'));
        queue.receive({ export: writeExport(layout) });
        assert.equal((await answered).payload.success, true);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(readQueue(layout).pending.length, 1);
        assert.equal(statuses.at(-1).text, 'sync-queue.status.noCentral', 'the queue works again: the status shows what matters now');
        assert.equal((await ask('status')).queue_file_problem, null);
    });

    it('a retry schedule that is not a list of seconds stops the node with a clear error', async () => {
        await load({ retrySchedule: 'soon' });
        const queue = helper.getNode('queue');
        const error = nextError(queue);
        queue.receive({ action: 'status' });
        assert.match((await error).message, /retry schedule "soon" is not a list of seconds/);
    });
});
