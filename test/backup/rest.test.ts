import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { call, demoBoat, startBoat } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import type { DemoBoat } from '../../tools/demo-boat';

// The backup and boatlog CSV endpoints of flows/boat.json on a real Node-RED (needs `npm run build`),
// answering in the shapes the dashboard is built against.

const json = { 'Content-Type': 'application/json' };

describe('backup and boatlog CSV over REST, on the boat flow', function () {
    this.timeout(90000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;

    before(async () => {
        scratch = scratchFolder('backup-rest');
        boat = await demoBoat(scratch.dir, { boatlogRows: 200, telemetryRows: 500 });
        // Nothing listens here: the boat is at sea, which backups do not care about.
        nodeRed = await startBoat(scratch.dir, boat, {
            centralUrl: 'http://127.0.0.1:9',
            // Only the backup tab and the boat's configuration: this test is about them alone.
            tweak: (flow) => flow.splice(0, flow.length, ...flow.filter((n) => n.id === 'd3kos-backup-tab' || n.z === 'd3kos-backup-tab' || n.type === 'd3kos-config')),
        });
    });
    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('create, list, download, schedule and restore answer as the dashboard expects', async () => {
        const created = await call(nodeRed, 'POST', '/api/backup/create');
        assert.equal(created.status, 200, created.text);
        const { name, size_bytes, created_at, file_count } = created.json.backup;
        assert.equal(created.json.success, true);
        assert.match(name, /^d3kos_backup_\d{8}_\d{6}\.tar\.gz$/);
        assert.ok(file_count > 10 && size_bytes > 0 && created_at);
        const listing = execFileSync('tar', ['-tzf', path.join(boat.backupDir, name)], { encoding: 'utf8' }).split('\n');
        assert.ok(listing.includes('node-red/flows.json'), "this Node-RED's own flows file is in the backup");

        const listed = await call(nodeRed, 'GET', '/api/backup/list');
        assert.equal(listed.status, 200, listed.text);
        assert.equal(listed.json.count, 1);
        assert.equal(listed.json.schedule, 'off');
        assert.equal(listed.json.last_backup.name, name);
        assert.equal(listed.json.backups[0].size_bytes, size_bytes);

        const download = await fetch(`${nodeRed.url}/api/backup/download/${name}`);
        assert.equal(download.status, 200);
        assert.equal(download.headers.get('content-disposition'), `attachment; filename="${name}"`);
        assert.ok(Buffer.from(await download.arrayBuffer()).equals(fs.readFileSync(path.join(boat.backupDir, name))));

        const scheduled = await call(nodeRed, 'POST', '/api/backup/schedule', { body: '{"schedule":"weekly"}', headers: json });
        assert.deepEqual([scheduled.status, scheduled.json.success, scheduled.json.schedule], [200, true, 'weekly']);
        assert.equal((await call(nodeRed, 'GET', '/api/backup/list')).json.schedule, 'weekly');

        fs.writeFileSync(boat.layout.onboarding, '{"vessel_name": "changed after the backup"}');
        const restored = await call(nodeRed, 'POST', '/api/backup/restore', { body: JSON.stringify({ name, keep_installation_id: true }), headers: json });
        assert.equal(restored.status, 200, restored.text);
        assert.equal(restored.json.restored, name);
        assert.match(restored.json.safety_backup, /_pre-restore\.tar\.gz$/);
        assert.ok(Array.isArray(restored.json.restart_required) && restored.json.restart_required.includes('dashboard'), restored.text);
        assert.equal(JSON.parse(fs.readFileSync(boat.layout.onboarding, 'utf8')).vessel_name, 'Demo Boat');
        assert.equal(typeof restored.json.message, 'string');
    });

    it('bad requests are answered with {success:false, error} and a 4xx status', async () => {
        const cases: Array<[string, string, string | undefined, number, RegExp]> = [
            ['POST', '/api/backup/schedule', '{"schedule":"hourly"}', 400, /"off", "daily" or "weekly"/],
            ['POST', '/api/backup/restore', '{"name":"../../etc/shadow"}', 400, /not the name of a d3kOS backup|not a backup/],
            ['POST', '/api/backup/restore', '{}', 400, /say which backup|"name" is missing/],
            ['GET', '/api/backup/download/d3kos_backup_20990101_000000.tar.gz', undefined, 404, /was not found/],
        ];
        for (const [method, url, body, status, error] of cases) {
            const answer = await call(nodeRed, method, url, { body, headers: body ? json : undefined });
            assert.equal(answer.status, status, `${method} ${url}: ${answer.text}`);
            assert.equal(answer.json.success, false);
            assert.match(answer.json.error, error);
        }
        const crossSite = await call(nodeRed, 'POST', '/api/backup/create', { headers: { Origin: 'https://evil.example' } });
        assert.equal(crossSite.status, 403);
    });

    it('GET /export/boatlog/csv downloads the boatlog for tier 1 and up, and answers 403 on tier 0', async () => {
        const csv = await fetch(`${nodeRed.url}/export/boatlog/csv`);
        assert.equal(csv.status, 200);
        assert.match(String(csv.headers.get('content-disposition')), /^attachment; filename="boatlog_\d{4}-\d{2}-\d{2}\.csv"$/);
        const text = await csv.text();
        // fetch's text() drops the BOM; the first line is the header.
        assert.ok(text.replace(/^\uFEFF/, '').startsWith('Timestamp,Type,Content,Latitude,Longitude\r\n'));

        const license = JSON.parse(fs.readFileSync(boat.layout.license, 'utf8'));
        fs.writeFileSync(boat.layout.license, JSON.stringify({ ...license, tier: 0 }));
        try {
            const refused = await call(nodeRed, 'GET', '/export/boatlog/csv');
            assert.equal(refused.status, 403);
            assert.deepEqual([refused.json.success, refused.json.error], [false, 'Export requires Tier 1 or higher']);
        } finally {
            fs.writeFileSync(boat.layout.license, JSON.stringify(license));
        }
    });
});
