import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { call, demoBoat, startBoat } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import type { DemoBoat } from '../../tools/demo-boat';

// The recovery key and off-boat routes of flows/boat.json on a real Node-RED (needs `npm run build`).

const json = { 'Content-Type': 'application/json' };

describe('recovery key and off-boat copy over REST, on the boat flow', function () {
    this.timeout(90000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;

    before(async () => {
        scratch = scratchFolder('offboat-rest');
        boat = await demoBoat(scratch.dir, { boatlogRows: 50, telemetryRows: 100 });
        nodeRed = await startBoat(scratch.dir, boat, {
            centralUrl: 'http://127.0.0.1:9',
            tweak: (flow) => flow.splice(0, flow.length, ...flow.filter((n) => n.id === 'd3kos-backup-tab' || n.z === 'd3kos-backup-tab' || n.type === 'd3kos-config')),
        });
    });
    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('the recovery key is answered once, with its QR code, and never again: not in the status, the list, the log or any file', async () => {
        const before = await call(nodeRed, 'GET', '/api/backup/offboat');
        assert.equal(before.status, 200, before.text);
        assert.deepEqual([before.json.encrypted_backups, before.json.recovery_key.exists], [false, false]);

        const made = await call(nodeRed, 'POST', '/api/backup/recovery-key');
        assert.equal(made.status, 200, made.text);
        const key: string = made.json.recovery_key;
        assert.match(key, /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
        assert.match(made.json.qr_svg, /^<svg[\s\S]*<\/svg>\s*$/);

        const created = await call(nodeRed, 'POST', '/api/backup/create');
        assert.equal(created.status, 200, created.text);
        assert.match(created.json.backup.name, /\.tar\.gz\.age$/);
        const status = await call(nodeRed, 'GET', '/api/backup/offboat');
        const list = await call(nodeRed, 'GET', '/api/backup/list');
        assert.equal(status.json.encrypted_backups, true);
        assert.equal(list.json.backups[0].encrypted, true);
        for (const answer of [status, list, created]) assert.ok(!answer.text.includes(key), 'a later answer holds the recovery key');
        assert.ok(!nodeRed.log().includes(key), "Node-RED's log holds the recovery key");
        const walk = (dir: string): string[] =>
            fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : []));
        for (const file of [...walk(boat.root), ...walk(nodeRed.userDir).filter((f) => !f.includes('node_modules'))]) {
            assert.ok(!fs.readFileSync(file).includes(Buffer.from(key)), `${file} holds the recovery key`);
        }
    });

    it("a guest on the Wi-Fi, through the boat's proxy, can neither make a recovery key nor recover with one", async () => {
        const keysDir = path.join(boat.root, 'keys');
        const keyFiles = () => (fs.existsSync(keysDir) ? fs.readdirSync(keysDir).sort() : []);
        const before = keyFiles();
        const guest = { 'X-Forwarded-For': '127.0.0.1, 192.168.1.23' };
        const made = await call(nodeRed, 'POST', '/api/backup/recovery-key', { headers: guest });
        assert.equal(made.status, 403, made.text);
        assert.match(made.json.error, /only at the helm/);
        assert.ok(!('recovery_key' in made.json));
        const recover = await call(nodeRed, 'POST', '/api/backup/recover', {
            body: '{"installation_id":"feedfacefeedface","recovery_key":"AGE-SECRET-KEY-1X"}',
            headers: { ...json, 'X-Real-IP': '192.168.1.23' },
        });
        assert.equal(recover.status, 403, recover.text);
        assert.deepEqual(keyFiles(), before);
        // The rest of the backup routes still answer that device.
        assert.equal((await call(nodeRed, 'GET', '/api/backup/offboat', { headers: guest })).status, 200);
    });

    it('the off-boat mode is remembered, and a wrong one is refused naming the choices', async () => {
        const set = await call(nodeRed, 'POST', '/api/backup/offboat', { body: '{"mode":"weekly"}', headers: json });
        assert.equal(set.status, 200, set.text);
        assert.equal(set.json.mode, 'weekly');
        assert.equal(JSON.parse(fs.readFileSync(path.join(boat.root, 'offboat', 'state.json'), 'utf8')).mode, 'weekly');
        assert.equal((await call(nodeRed, 'GET', '/api/backup/offboat')).json.mode, 'weekly');
        const wrong = await call(nodeRed, 'POST', '/api/backup/offboat', { body: '{"mode":"daily"}', headers: json });
        assert.equal(wrong.status, 400);
        assert.match(wrong.json.error, /"mode" must be "off", "every" or "weekly"; got "daily"/);
        const bad = await call(nodeRed, 'POST', '/api/backup/recover', { body: '{"installation_id":"feedfacefeedface","device_token":"x","recovery_key":"nope"}', headers: json });
        assert.equal(bad.status, 400);
        assert.match(bad.json.error, /AGE-SECRET-KEY-1/);
    });
});
