import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { call, demoBoat, FAST_QUEUE_ENV, loadFlow, startCentral } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { boatHeaders, demoBoatIn, exportUpload } from './uploads';

// flows/central-ingest.json on a real Node-RED 4.1 with the built package (npm run build first).

describe('flows/central-ingest.json on a started Node-RED', function () {
    this.timeout(90000);
    let scratch: ReturnType<typeof scratchFolder>;
    const running: RunningNodeRed[] = [];

    before(() => (scratch = scratchFolder('central-flow')));
    after(async () => {
        for (const nodeRed of running) await nodeRed.stop();
        scratch.remove();
    });

    it('open mode: a boat upload is stored, readable, and the same upload again is success with already_imported', async () => {
        const central = await startCentral(path.join(scratch.dir, 'open'));
        running.push(central);
        const boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 25, telemetryRows: 10 });
        const upload = await exportUpload(boat);
        const post = () => fetch(`${central.url}/api/v1/data/import`, { method: 'POST', headers: boatHeaders(upload, boat.installationId), body: new Uint8Array(upload.gzip) });

        const first = await post();
        const answer = await first.json();
        assert.equal(first.status, 200, JSON.stringify(answer));
        assert.equal(answer.status, 'success');
        const again = await (await post()).json();
        assert.deepEqual([again.already_imported, again.import_id], [true, answer.import_id]);

        const rows = await call(central, 'GET', `/api/v1/installations/${boat.installationId}/boatlog`);
        assert.equal(rows.json.entries.length, upload.json.data.boatlog.entry_count);
        const health = await call(central, 'GET', '/api/v1/health');
        assert.deepEqual([health.status, health.json.status, health.json.mode], [200, 'ok', 'open']);
        assert.ok(fs.existsSync(path.join(scratch.dir, 'open', 'central-data', 'ingest.db')), 'the database is in D3KOS_INGEST_DIR');

        const refused = await fetch(`${central.url}/api/v1/data/import`, { method: 'POST', headers: boatHeaders(upload, 'ffffffffffffffff'), body: new Uint8Array(upload.gzip) });
        assert.equal(refused.status, 401);
        assert.match(refused.headers.get('content-type') ?? '', /application\/json/);
        assert.equal((await refused.json()).status, 'error');
    });

    it('tokens mode: only a device listed in devices.json is let in', async () => {
        const dir = path.join(scratch.dir, 'tokens');
        fs.mkdirSync(path.join(dir, 'central-data'), { recursive: true });
        const boat = await demoBoatIn(scratch.dir, 'token-boat', { boatlogRows: 10, telemetryRows: 5 });
        fs.writeFileSync(path.join(dir, 'central-data', 'devices.json'), JSON.stringify({ 'k3-device-token': boat.installationId }));
        const central = await startCentral(dir, { D3KOS_INGEST_MODE: 'tokens' });
        running.push(central);
        const upload = await exportUpload(boat);
        const send = (bearer: string) => fetch(`${central.url}/api/v1/data/import`, { method: 'POST', headers: boatHeaders(upload, bearer), body: new Uint8Array(upload.gzip) });
        assert.equal((await send(boat.installationId)).status, 401);
        const accepted = await send('k3-device-token');
        assert.equal(accepted.status, 200);
        assert.equal((await accepted.json()).status, 'success');
        assert.doesNotMatch(central.log(), /k3-device-token/, 'the token never reaches the log');
    });

    it('deploys together with flows/boat.json in one Node-RED (npm start): no id clash, both answer', async () => {
        const dir = path.join(scratch.dir, 'together');
        const boat = await demoBoat(dir, { boatlogRows: 10, telemetryRows: 5 });
        const flows = [...loadFlow('boat'), ...loadFlow('central-ingest')];
        const ids = flows.map((n) => n.id);
        assert.equal(new Set(ids).size, ids.length, 'node ids are unique across the two flows');
        const nodeRed = await startNodeRed({
            userDir: path.join(dir, 'node-red'),
            flows,
            env: { D3KOS_ROOT: boat.root, D3KOS_MEDIA_DIR: boat.mediaDir, D3KOS_BACKUP_DIR: boat.backupDir, D3KOS_CENTRAL_URL: 'http://127.0.0.1:9', D3KOS_INGEST_MODE: 'open', D3KOS_INGEST_DIR: path.join(dir, 'central-data'), ...FAST_QUEUE_ENV },
            quiet: true,
        });
        running.push(nodeRed);
        const health = await call(nodeRed, 'GET', '/api/v1/health');
        assert.equal(health.json.status, 'ok');
        const boatHealth = await call(nodeRed, 'GET', '/health');
        assert.equal(boatHealth.status, 200, boatHealth.text);
    });
});
