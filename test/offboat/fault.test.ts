import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup } from '../../lib/backup';
import { makeRecoveryKey } from '../../lib/crypto/keys';
import { storedFiles } from '../../lib/vault/store';
import { RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { backupTestBoat, BackupTestBoat } from '../backup/boat';
import { testCentral, TestCentral } from './central';
import { flakyLink, FlakyLink } from './link';

const DEVICE_TOKEN = 'device-token-for-the-fault-test-0001';
/** "Every few hundred kilobytes". */
const DROP_EVERY = 512 * 1024;

/** The boat's side: its configuration (central URL through the flaky link) and the off-boat node, with a route to say "send". */
function boatFlows(t: BackupTestBoat, centralUrl: string): unknown[] {
    return [
        { id: 'tab', type: 'tab', label: 'off-boat' },
        { id: 'd3kos-boat', type: 'd3kos-config', name: 'boat', root: t.boat.root, mediaDir: t.boat.mediaDir, backupDir: t.boat.backupDir, centralUrl },
        { id: 'send-in', type: 'http in', z: 'tab', url: '/offboat/send', method: 'post', wires: [['send-action']] },
        { id: 'send-action', type: 'change', z: 'tab', rules: [{ t: 'set', p: 'action', pt: 'msg', to: 'send', tot: 'str' }], wires: [['offboat']] },
        { id: 'offboat', type: 'd3kos-offboat', z: 'tab', boat: 'd3kos-boat', backupDir: '', pollSeconds: 1, wires: [['answer']] },
        { id: 'answer', type: 'http response', z: 'tab', wires: [] },
    ];
}

async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs: number): Promise<NonNullable<T>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value) return value as NonNullable<T>;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

function uploadedSoFar(central: TestCentral): number {
    const dir = path.join(central.dataDir, 'backup-uploads');
    return fs.existsSync(dir)
        ? fs
              .readdirSync(dir)
              .filter((f) => !f.endsWith('.json'))
              .reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0)
        : 0;
}

describe('the off-boat copy over a link that drops, with Node-RED killed mid-upload', function () {
    this.timeout(300000);
    let t: BackupTestBoat;
    let central: TestCentral;
    let link: FlakyLink;
    let boatRed: RunningNodeRed | undefined;

    before(async () => {
        t = await backupTestBoat('offboat-fault');
        // About 50 MB that no compression shrinks, as photos and charts are.
        const chart = path.join(t.boat.root, 'data', 'manuals', 'chart-plates.bin');
        fs.mkdirSync(path.dirname(chart), { recursive: true });
        fs.writeFileSync(chart, crypto.randomBytes(50 * 1024 * 1024));
        await makeRecoveryKey(t.boat.root);
        central = await testCentral(path.join(t.scratch.dir, 'central'), { [DEVICE_TOKEN]: t.boat.installationId });
        link = await flakyLink(central.port, DROP_EVERY);
    });
    after(async () => {
        await boatRed?.kill('SIGKILL').catch(() => undefined);
        await link?.close();
        await central?.close();
        t?.scratch.remove();
    });

    it('a 50 MB encrypted backup arrives whole, matching its sha256, with at most 1.1× its bytes sent, and no secret in clear on the central side', async () => {
        const made = await createBackup(t.settings);
        assert.equal(made.backup.encrypted, true);
        assert.ok(made.backup.size_bytes > 50 * 1024 * 1024, `the backup is ${made.backup.size_bytes} bytes`);
        const userDir = path.join(t.scratch.dir, 'boat-node-red');
        const start = () => startNodeRed({ userDir, flows: boatFlows(t, `http://127.0.0.1:${link.port}`), credentials: { 'd3kos-boat': { deviceToken: DEVICE_TOKEN } }, quiet: true });

        boatRed = await start();
        const answer = await fetch(`${boatRed.url}/offboat/send`, { method: 'POST' });
        assert.equal(answer.status, 200, await answer.text());

        // A power cut part-way: more than 10 MB at the central side, well short of the end.
        await until('10 MB at the central side', () => uploadedSoFar(central) > 10 * 1024 * 1024, 120000);
        await boatRed.kill('SIGKILL');
        const atKill = uploadedSoFar(central);
        assert.ok(atKill < made.backup.size_bytes, 'the copy was already complete when Node-RED was killed');

        boatRed = await start();
        const arrived = await until('the copy at the central side', () => central.copies[0], 240000);

        assert.equal(arrived.installation, t.boat.installationId);
        assert.equal(arrived.copy.name, made.backup.name);
        assert.equal(arrived.copy.sha256, made.backup.sha256);
        const stored = path.join(central.dataDir, 'backup-vault', t.boat.installationId, made.backup.name);
        assert.equal(crypto.createHash('sha256').update(fs.readFileSync(stored)).digest('hex'), made.backup.sha256);
        // The restart resumed the same upload rather than starting over.
        assert.equal(
            central.uploadsMade(),
            1,
            boatRed
                .log()
                .split('\n')
                .filter((l) => /offboat|central/.test(l))
                .join('\n'),
        );
        assert.ok(link.drops() >= 50, `the link dropped only ${link.drops()} times`);
        const ratio = link.bytesUp() / made.backup.size_bytes;
        console.log(`      ${link.drops()} drops, ${link.bytesUp()} bytes sent for ${made.backup.size_bytes} (${ratio.toFixed(3)}×), killed at ${atKill} bytes`);
        assert.ok(ratio <= 1.1, `the boat sent ${ratio.toFixed(3)}× the file's bytes`);

        // The central side never sees plaintext: no secret value of the boat is in any file it keeps.
        for await (const file of storedFiles(central.dataDir)) {
            const bytes = fs.readFileSync(file);
            for (const secret of t.boat.secrets) assert.ok(!bytes.includes(Buffer.from(secret)), `${file} holds a secret value in clear`);
        }
        // The archive really holds them (encrypted): a planted secret is in the boat's secret files.
        assert.ok(fs.readFileSync(t.boat.layout.apiKeysEnv, 'utf8').includes(t.boat.secrets.find((s) => fs.readFileSync(t.boat.layout.apiKeysEnv, 'utf8').includes(s))!));
    });
});
