import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { call, demoBoat, exportFiles, readQueueFile, startBoat, startCentral, waitFor } from '../e2e/harness';

/** An address nothing listens on: the export stays pending, as at sea. */
const UNREACHABLE = 'http://127.0.0.1:9';

// On c1f1f9a a damaged queue file at start was set aside, /health said ok, and the pending exports' files
// stayed in data/exports/exports for ever: never uploaded, never pruned.
describe('hostile reads: a damaged queue file at start', function () {
    this.timeout(240000);
    let scratch: { dir: string; remove: () => void };
    let central: RunningNodeRed;
    let nodeRed: RunningNodeRed | undefined;
    let boat: Awaited<ReturnType<typeof demoBoat>>;
    let pendingExport: string;
    let untrusted: string;

    before(async () => {
        scratch = scratchFolder('hostile-reads-queue');
        boat = await demoBoat(scratch.dir, { tier: 2 });
        central = await startCentral(scratch.dir);
        // At sea: the export is made and waits in the queue.
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: UNREACHABLE });
        const made = await call(nodeRed, 'POST', '/export/generate');
        assert.equal(made.status, 200, made.text);
        pendingExport = made.json.export_id;
        assert.equal(readQueueFile(boat).pending[0].export_id, pendingExport);
        await nodeRed.stop();
        nodeRed = undefined;
        // The card corrupts the queue file while the boat is off, and leaves a torn export beside it.
        fs.writeFileSync(boat.layout.queueFile, '{"version":"1.0","pending":[{"queue_id":"q_');
        untrusted = 'export_20261120_030000_000_beef.json';
        fs.writeFileSync(path.join(boat.layout.exportFilesDir, untrusted), '{"export_id":"export_20261120_030000_000_beef","tier":2,"data":{"boatlog":{"entries":[');
        // Back in harbour: Node-RED starts with the central database in reach.
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: central.url });
    });

    after(async () => {
        await nodeRed?.stop();
        await central?.stop();
        scratch?.remove();
    });

    it('the pending export is taken back from its file and uploaded to the real ingest', async () => {
        const stored = await waitFor(
            'the export stored centrally',
            async () => {
                const answer = await call(central, 'GET', `/api/v1/exports/${pendingExport}`);
                return answer.status === 200 ? answer.json : undefined;
            },
            60000,
        );
        assert.ok(stored, 'the central database has it');
        // Everything taken back is sent: the export is completed and nothing is left waiting or half-sent.
        let last: any;
        const queue = await waitFor(
            'the queue to show it uploaded and nothing left waiting',
            async () => {
                last = (await call(nodeRed!, 'GET', '/export/queue/status')).json;
                const done = last.items.completed.some((e: any) => e.export_id === pendingExport);
                return done && last.pending_count === 0 && last.uploading_count === 0 ? last : undefined;
            },
            60000,
        ).catch((err) => assert.fail(`${err.message}; the queue said: ${JSON.stringify(last?.items)}`));
        assert.equal(queue.failed_count, 0);
        const entry = readQueueFile(boat).completed.find((e: any) => e.export_id === pendingExport);
        assert.match(entry.sha256, /^[0-9a-f]{64}$/);
        assert.ok(
            fs.readdirSync(boat.layout.exportsDir).some((name) => name.startsWith('export_queue.json.unreadable-')),
            'the damaged file is kept',
        );
    });

    it('the export file that cannot be trusted is listed in the queue status, not uploaded nor deleted', async () => {
        const status = await call(nodeRed!, 'GET', '/export/queue/status');
        assert.deepEqual(
            status.json.untrusted_files.map((u: any) => u.file),
            [untrusted],
        );
        assert.match(status.json.untrusted_files[0].reason, /carries no export time|cut short|does not start/);
        assert.ok(exportFiles(boat).includes(untrusted));
        assert.equal((await call(central, 'GET', '/api/v1/exports/export_20261120_030000_000_beef')).status, 404);
    });

    it('/health says degraded: the queue file was damaged, and which file is waiting for the owner', async () => {
        const health = await call(nodeRed!, 'GET', '/health');
        assert.equal(health.status, 503, health.text);
        assert.equal(health.json.status, 'degraded');
        const problems: string[] = health.json.problems;
        assert.ok(
            problems.some((p) => /upload queue file was found damaged .* kept as export_queue\.json\.unreadable-/.test(p)),
            problems.join('\n'),
        );
        assert.ok(
            problems.some((p) => p.includes(untrusted)),
            problems.join('\n'),
        );
    });
});
