import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { helper, nextMessage } from '../support/node-red';
import { scratchFolder } from '../support/folders';
import { registeredVaults } from '../../lib/central/vault-registry';
import { backupName, bearer, boat, createUpload, fakeBackup, filesUnder, OPERATOR, patchUpload, uploadWhole } from './central';
import vaultNode = require('../../nodes/backup-vault/backup-vault');

// The vault node in a real Node-RED runtime (node-red-node-test-helper), served on loopback: what it tells the
// fleet page through the registry, the re-hash of its copies on a schedule, and a boat's erasure.

let nodeApp: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
const captureNodeApp = (RED: any) => {
    nodeApp = RED.httpNode;
};

describe('the backup vault node, as the fleet page and erasure see it', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let server: http.Server;
    let base = '';
    const a = boat('a');
    const b = boat('b');

    before(async () => {
        server = http.createServer((req, res) => (nodeApp ? nodeApp(req, res) : res.writeHead(503).end()));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
    });
    let dataDir = '';
    /** The vault node with the shipped settings but for `settings`, and a re-hash about every second. */
    const start = (settings: Record<string, unknown> = {}) =>
        helper.load(
            [vaultNode, captureNodeApp],
            [
                { id: 'vault', type: 'd3kos-backup-vault', dataDir, folder: path.join(scratch.dir, 'vault'), mode: 'tokens', keep: 5, maxGB: 1, checkHours: 1 / 3600, ...settings, wires: [['out']] },
                { id: 'out', type: 'helper' },
            ],
        );

    beforeEach(async () => {
        scratch = scratchFolder('vault-registry');
        dataDir = path.join(scratch.dir, 'ingest');
        fs.mkdirSync(dataDir, { recursive: true });
        fs.writeFileSync(path.join(dataDir, 'devices.json'), JSON.stringify({ [a.token]: a.id, [b.token]: b.id }));
        fs.writeFileSync(path.join(dataDir, 'operators.json'), JSON.stringify([OPERATOR]));
    });
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    it('registers while it runs: copies, bytes and the newest arrival of each boat asked for', async () => {
        await start();
        assert.equal(registeredVaults().length, 1);
        const names = [backupName(-2), backupName(-1)];
        for (const name of names) assert.equal((await uploadWhole(base, a.token, name, fakeBackup(1000))).status, 204);
        const facts = await registeredVaults()[0].factsFor([a.id, b.id]);
        const listed = (await (await fetch(`${base}/api/v1/installations/${a.id}/backups`, { headers: bearer(OPERATOR) })).json()) as { backups: any[] };
        assert.deepEqual(facts.get(a.id), { copies: 2, bytes: 2 * (1000 + 22), newest_received_at: listed.backups[0].received_at, damaged: 0 });
        assert.deepEqual(facts.get(b.id), { copies: 0, bytes: 0, newest_received_at: null, damaged: 0 });
        await helper.unload();
        assert.equal(registeredVaults().length, 0);
    });

    it('a copy whose bytes changed on disk is found at the next re-hash: in the facts, the listing and a message', async () => {
        await start();
        const name = backupName(0);
        assert.equal((await uploadWhole(base, a.token, name, fakeBackup(4096))).status, 204);
        const file = path.join(scratch.dir, 'vault', 'backup-vault', a.id, name);
        const bytes = fs.readFileSync(file);
        bytes[2000] ^= 0xff;
        fs.writeFileSync(file, bytes);
        const message = await nextMessage(helper.getNode('out'), 15000);
        assert.equal(message.topic, 'vault/damaged');
        assert.deepEqual([message.payload.installation_id, message.payload.name], [a.id, name]);
        assert.equal((await registeredVaults()[0].factsFor([a.id])).get(a.id)!.damaged, 1);
        const listed = (await (await fetch(`${base}/api/v1/installations/${a.id}/backups`, { headers: bearer(OPERATOR) })).json()) as { damaged: number; backups: any[] };
        assert.equal(listed.damaged, 1);
        assert.equal(listed.backups[0].damaged, true);
    });

    it("erasing a boat removes its copies, sidecars and unfinished uploads, counts them, and leaves the other boats' alone", async () => {
        await start();
        for (const name of [backupName(-2), backupName(-1)]) assert.equal((await uploadWhole(base, a.token, name, fakeBackup(1000))).status, 204);
        assert.equal((await uploadWhole(base, b.token, backupName(-1), fakeBackup(1000))).status, 204);
        const unfinished = fakeBackup(5000);
        const made = await createUpload(base, a.token, backupName(0), unfinished.bytes.length, unfinished.sha256);
        assert.equal((await patchUpload(made.headers.get('location')!, a.token, 0, unfinished.bytes.subarray(0, 100))).status, 204);

        assert.deepEqual(await registeredVaults()[0].erase(a.id), { copies: 2, bytes: 2 * 1022, unfinished_uploads: 1 });
        const left = filesUnder(path.join(scratch.dir, 'vault'));
        assert.deepEqual(
            left.filter((file) => file.includes(a.id)),
            [],
        );
        assert.ok(left.some((file) => file.includes(b.id)));
        assert.equal((await registeredVaults()[0].factsFor([b.id])).get(b.id)!.copies, 1);
        const head = await fetch(made.headers.get('location')!, { method: 'HEAD', headers: { ...bearer(a.token), 'Tus-Resumable': '1.0.0' } });
        assert.equal(head.status, 404);
    });

    it('the quota and the life of an unfinished upload are the ones set on the node', async () => {
        // About 20 kB per boat, and an upload nobody writes to gone after about a second.
        await start({ quotaGB: 20000 / 1024 ** 3, expireHours: 1 / 3600 });
        const big = fakeBackup(30000);
        const refused = await createUpload(base, a.token, backupName(0), big.bytes.length, big.sha256);
        assert.equal(refused.status, 413);
        const small = fakeBackup(1000);
        const made = await createUpload(base, a.token, backupName(0), small.bytes.length, small.sha256);
        assert.equal(made.status, 201);
        await new Promise((resolve) => setTimeout(resolve, 3000));
        const head = await fetch(made.headers.get('location')!, { method: 'HEAD', headers: { ...bearer(a.token), 'Tus-Resumable': '1.0.0' } });
        assert.equal(head.status, 404);
        assert.deepEqual(filesUnder(path.join(scratch.dir, 'vault', 'backup-uploads')), []);
    });

    it("an upload its boat left for more than ten minutes makes room for the boat's next one; a moving one does not", async () => {
        await start({ quotaGB: 20000 / 1024 ** 3 });
        const uploads = path.join(scratch.dir, 'vault', 'backup-uploads');
        const backups = [fakeBackup(15000), fakeBackup(15000), fakeBackup(15000)];
        const first = await createUpload(base, a.token, backupName(-1), backups[0].bytes.length, backups[0].sha256);
        assert.equal(first.status, 201);
        const firstId = path.basename(new URL(first.headers.get('location')!).pathname);
        const elevenMinutesAgo = new Date(Date.now() - 11 * 60 * 1000);
        fs.utimesSync(path.join(uploads, firstId), elevenMinutesAgo, elevenMinutesAgo);
        const second = await createUpload(base, a.token, backupName(0), backups[1].bytes.length, backups[1].sha256);
        assert.equal(second.status, 201, await second.text());
        assert.equal(fs.existsSync(path.join(uploads, firstId)), false);
        const third = await createUpload(base, a.token, backupName(0, 1), backups[2].bytes.length, backups[2].sha256);
        assert.equal(third.status, 413);
        assert.equal((await patchUpload(second.headers.get('location')!, a.token, 0, backups[1].bytes)).status, 204);
    });
});
