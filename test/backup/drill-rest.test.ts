import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { call, demoBoat, startBoat, waitFor } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { testCentral, TestCentral } from '../offboat/central';
import { newIdentity } from '../../lib/crypto/age';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import type { DemoBoat } from '../../tools/demo-boat';

// The restore drill and the recovery-key check on the boat flow of a real Node-RED (needs `npm run build`),
// with the boat's encrypted copy in a real vault on loopback.

const json = { 'Content-Type': 'application/json' };
const TOKEN = 'drill-test-device-token-0123456789';

describe('restore drill and recovery-key check over REST, on the boat flow', function () {
    this.timeout(120000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let central: TestCentral;
    let nodeRed: RunningNodeRed;

    before(async () => {
        scratch = scratchFolder('drill-rest');
        boat = await demoBoat(scratch.dir, { boatlogRows: 100, telemetryRows: 400 });
        const installation = JSON.parse(fs.readFileSync(boat.layout.license, 'utf8')).installation_id;
        central = await testCentral(path.join(scratch.dir, 'central'), { [TOKEN]: installation });
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: central.url, deviceToken: TOKEN });
    });
    after(async () => {
        await nodeRed?.stop();
        await central?.close();
        scratch?.remove();
    });

    it('a drill proves the newest backup, and the list and /health say so', async () => {
        const none = await call(nodeRed, 'POST', '/api/backup/drill');
        assert.equal(none.status, 404, none.text);
        assert.match(none.json.error, /no backup to prove restorable yet/);

        const made = await call(nodeRed, 'POST', '/api/backup/create');
        assert.equal(made.status, 200, made.text);
        const drilled = await call(nodeRed, 'POST', '/api/backup/drill');
        assert.equal(drilled.status, 200, drilled.text);
        assert.deepEqual([drilled.json.success, drilled.json.status, drilled.json.name], [true, 'proven', made.json.backup.name]);
        const list = await call(nodeRed, 'GET', '/api/backup/list');
        assert.equal(list.json.backups[0].drill.status, 'proven');
        assert.equal(list.json.newest_proven_at, drilled.json.proven_at);
        const health = await call(nodeRed, 'GET', '/health');
        assert.ok(!health.json.problems.some((p: string) => /restore drill/.test(p)), health.text);
    });

    it('a failed drill answers 422 with the reason, and /health is degraded until a good backup is proven', async () => {
        const made = await call(nodeRed, 'POST', '/api/backup/create');
        const archive = path.join(boat.backupDir, made.json.backup.name);
        const bytes = fs.readFileSync(archive);
        bytes[bytes.length >> 1] ^= 0xff;
        fs.writeFileSync(archive, bytes);
        const drilled = await call(nodeRed, 'POST', '/api/backup/drill', { body: JSON.stringify({ name: made.json.backup.name }), headers: json });
        assert.equal(drilled.status, 422, drilled.text);
        assert.deepEqual([drilled.json.success, drilled.json.status], [false, 'failed']);
        assert.match(drilled.json.error, /is damaged/);
        const health = await call(nodeRed, 'GET', '/health');
        assert.equal(health.json.status, 'degraded', health.text);
        assert.ok(
            health.json.problems.some((p: string) => p.startsWith('the newest backup failed its restore drill: ')),
            health.text,
        );

        fs.rmSync(archive);
        fs.rmSync(`${archive}.sha256`);
        await call(nodeRed, 'POST', '/api/backup/create');
        assert.equal((await call(nodeRed, 'POST', '/api/backup/drill')).status, 200);
        const after = await call(nodeRed, 'GET', '/health');
        assert.ok(!after.json.problems.some((p: string) => /restore drill/.test(p)), after.text);
    });

    it('the recovery-key check tells whether the key opens the newest backup and the copy ashore, and keeps nothing', async () => {
        const made = await call(nodeRed, 'POST', '/api/backup/recovery-key');
        const key: string = made.json.recovery_key;
        assert.match(key, /^AGE-SECRET-KEY-1/);
        const created = await call(nodeRed, 'POST', '/api/backup/create');
        assert.match(created.json.backup.name, /\.age$/);
        const sent = await call(nodeRed, 'POST', '/api/backup/offboat/send', { body: JSON.stringify({ name: created.json.backup.name }), headers: json });
        assert.equal(sent.status, 200, sent.text);
        await waitFor('the copy ashore', async () => central.copies.some((c) => c.copy.name === created.json.backup.name));

        const right = await call(nodeRed, 'POST', '/api/backup/recovery-key/check', { body: JSON.stringify({ recovery_key: key }), headers: json });
        assert.equal(right.status, 200, right.text);
        assert.deepEqual(right.json.newest_backup, { name: created.json.backup.name, opens: true });
        assert.deepEqual(right.json.newest_offboat, { name: created.json.backup.name, opens: true });
        assert.ok(!right.text.includes(key));

        const other = (await newIdentity()).identity;
        const wrong = await call(nodeRed, 'POST', '/api/backup/recovery-key/check', { body: JSON.stringify({ recovery_key: other }), headers: json });
        assert.equal(wrong.status, 200, wrong.text);
        assert.equal(wrong.json.newest_backup.opens, false);
        assert.equal(wrong.json.newest_offboat.opens, false);

        const typo = await call(nodeRed, 'POST', '/api/backup/recovery-key/check', { body: JSON.stringify({ recovery_key: key.slice(0, 40) }), headers: json });
        assert.equal(typo.status, 400, typo.text);
        assert.match(typo.json.error, /not a recovery key/);

        const guest = await call(nodeRed, 'POST', '/api/backup/recovery-key/check', {
            body: JSON.stringify({ recovery_key: key }),
            headers: { ...json, 'X-Forwarded-For': '127.0.0.1, 192.168.1.23' },
        });
        assert.equal(guest.status, 403, guest.text);

        assert.ok(!nodeRed.log().includes(key) && !nodeRed.log().includes(other), "Node-RED's log holds a key that was checked");
        const walk = (dir: string): string[] =>
            fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : []));
        for (const file of walk(boat.root)) assert.ok(!fs.readFileSync(file).includes(Buffer.from(other)), `${file} holds the checked key`);
    });
});
