import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder, writeJson } from '../support/folders';
import { call, demoBoat, exportFiles, flowNode, startBoat, startCentral, waitFor } from './harness';
import { readExport } from '../support/exports';

/** The daily schedule's memory, as a boat switched off since `coveredUntil` left it. */
function rememberDailyExportCoveredUntil(boat: { root: string }, coveredUntil: Date): void {
    writeJson(path.join(boat.root, 'state', 'schedules', 'daily-export.json'), {
        version: 1,
        cron: '0 3 * * *',
        time_zone: '',
        covered_until: coveredUntil.toISOString(),
    });
}

/** An address nothing listens on: the central database is out of reach, as at sea. */
const UNREACHABLE = 'http://127.0.0.1:9';

describe('seed 000 Test 6: a tier 0 boat', function () {
    this.timeout(120000);
    let scratch: { dir: string; remove: () => void };
    let nodeRed: RunningNodeRed;
    let boat: Awaited<ReturnType<typeof demoBoat>>;

    before(async () => {
        scratch = scratchFolder('e2e-tier0');
        boat = await demoBoat(scratch.dir, { tier: 0 });
        // A missed daily run is due at start: the schedule must not export for tier 0 either.
        rememberDailyExportCoveredUntil(boat, new Date(Date.now() - 3 * 24 * 3600 * 1000));
        nodeRed = await startBoat(scratch.dir, boat, {
            centralUrl: UNREACHABLE,
            tweak: (flow) => (flowNode(flow, 'daily-schedule').catchUpDelay = 0),
        });
    });

    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('POST /export/generate answers 403 {success:false, error:"Export requires Tier 1 or higher"}', async () => {
        const answer = await call(nodeRed, 'POST', '/export/generate');
        assert.equal(answer.status, 403);
        assert.equal(answer.json.success, false);
        assert.equal(answer.json.error, 'Export requires Tier 1 or higher');
        assert.equal(answer.json.tier, 0);
    });

    it('every other export path answers 403 too', async () => {
        for (const url of ['/export/process-queue', '/export/queue/process', '/export/queue/retry-failed']) {
            const answer = await call(nodeRed, 'POST', url);
            assert.equal(answer.status, 403, `${url}: ${answer.text}`);
            assert.equal(answer.json.success, false);
        }
        const withBody = await call(nodeRed, 'POST', '/export/generate', { headers: { 'Content-Type': 'application/json' }, body: '{"mode":"incremental"}' });
        assert.equal(withBody.status, 403);
    });

    it('GET /tier/status and /export/status say it cannot export, for the page to show its upgrade message', async () => {
        assert.equal((await call(nodeRed, 'GET', '/tier/status')).json.tier, 0);
        const status = await call(nodeRed, 'GET', '/export/status');
        assert.equal(status.status, 200, status.text);
        assert.equal(status.json.can_export, false);
    });

    it('no export file appears, not even from the missed daily run', async () => {
        await new Promise((r) => setTimeout(r, 1500));
        assert.deepEqual(exportFiles(boat), []);
        assert.equal((await call(nodeRed, 'GET', '/export/list')).json.count, 0);
    });
});

describe('the boat restarting', function () {
    this.timeout(180000);
    let scratch: { dir: string; remove: () => void };
    const running: RunningNodeRed[] = [];

    beforeEach(() => (scratch = scratchFolder('e2e-restart')));
    afterEach(async () => {
        for (const nodeRed of running.splice(0)) await nodeRed.stop();
        scratch.remove();
    });

    it('an export left pending while the central side was out of reach is delivered after a restart, with no request from anyone', async () => {
        const boat = await demoBoat(scratch.dir, { tier: 1 });
        const central = await startCentral(scratch.dir);
        running.push(central);
        const centralUrl = central.url;
        await central.stop();
        running.pop();

        // At sea: the export is made and queued, the upload cannot reach the central side.
        let nodeRed = await startBoat(scratch.dir, boat, { centralUrl });
        running.push(nodeRed);
        const made = await call(nodeRed, 'POST', '/export/generate');
        assert.equal(made.status, 200, made.text);
        const pending = await call(nodeRed, 'GET', '/export/queue/status');
        // Two uploads of one export: its urgent part and its bulk part (telemetry, camera metadata).
        assert.equal(pending.json.pending_count + pending.json.uploading_count, 2, pending.text);
        await nodeRed.stop();
        running.pop();

        // In harbour: central reachable again, the boat switched on. Nobody asks for anything.
        const centralAgain = await startCentral(scratch.dir, {});
        running.push(centralAgain);
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: centralAgain.url });
        running.push(nodeRed);
        await waitFor('the pending export to be delivered at start', async () => {
            const read = await call(centralAgain, 'GET', `/api/v1/installations/${boat.installationId}/boatlog`);
            const entries = read.json?.entries ?? read.json?.rows ?? read.json?.boatlog;
            return Array.isArray(entries) && entries.length > 0;
        });
        const status = await waitFor('the queue to show it completed', async () => {
            const body = (await call(nodeRed, 'GET', '/export/queue/status')).json;
            return body.completed_count === 2 && body.pending_count === 0 ? body : undefined;
        });
        assert.equal(status.failed_count, 0);
    });

    it('a 03:00 missed while the boat was off runs an incremental export at the next start (tier 2)', async () => {
        const boat = await demoBoat(scratch.dir, { tier: 2 });
        rememberDailyExportCoveredUntil(boat, new Date(Date.now() - 26 * 3600 * 1000));
        const nodeRed = await startBoat(scratch.dir, boat, {
            centralUrl: UNREACHABLE,
            tweak: (flow) => (flowNode(flow, 'daily-schedule').catchUpDelay = 1),
        });
        running.push(nodeRed);
        const [file] = await waitFor('the catch-up export', async () => {
            const files = exportFiles(boat);
            return files.length > 0 ? files : undefined;
        });
        const exported = readExport(path.join(boat.layout.exportFilesDir, file)).json;
        assert.equal(exported.mode, 'incremental');
        const state = JSON.parse(fs.readFileSync(path.join(boat.root, 'state', 'schedules', 'daily-export.json'), 'utf8'));
        assert.ok(Date.parse(state.covered_until) > Date.now() - 60000);
    });

    it('a tier 1 boat skips the daily export, missed or not', async () => {
        const boat = await demoBoat(scratch.dir, { tier: 1 });
        rememberDailyExportCoveredUntil(boat, new Date(Date.now() - 26 * 3600 * 1000));
        const nodeRed = await startBoat(scratch.dir, boat, {
            centralUrl: UNREACHABLE,
            tweak: (flow) => (flowNode(flow, 'daily-schedule').catchUpDelay = 0),
        });
        running.push(nodeRed);
        await waitFor('the schedule to record its run', async () => {
            const state = JSON.parse(fs.readFileSync(path.join(boat.root, 'state', 'schedules', 'daily-export.json'), 'utf8'));
            return state.last_run_at ? state : undefined;
        });
        await new Promise((r) => setTimeout(r, 1000));
        assert.deepEqual(exportFiles(boat), []);
    });
});
