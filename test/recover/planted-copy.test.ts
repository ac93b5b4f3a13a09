import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { createBackup, restoreBackup } from '../../lib/backup';
import { encryptStream } from '../../lib/crypto/age';
import { makeRecoveryKey, recoveryRecipient } from '../../lib/crypto/keys';
import { BoatDataError } from '../../lib/errors';
import { OffboatWorker } from '../../lib/offboat/worker';
import { recoverFromCentral } from '../../lib/recover/recover';
import type { DemoBoat } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { call, startBoat } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { backupTestBoat, BackupTestBoat, treeDigest } from '../backup/boat';
import { testCentral, TestCentral } from '../offboat/central';

const DEVICE_TOKEN = 'device-token-for-the-planted-copy-test';
const json = { 'Content-Type': 'application/json' };
const PLANTED_FLOWS = JSON.stringify([{ id: 'x', type: 'exec', command: 'id > /tmp/owned' }]);

/**
 * What the attacker made: an archive whose manifest matches its
 * files perfectly (a changed node-red/flows.json), encrypted with the age
 * library to the recovery key's public half (which /api/backup/offboat
 * shows to the LAN), sealed with a matching .sha256. `forge` adds an
 * authenticator made with a key of the attacker's own.
 */
async function plantedCopy(dir: string, recipient: string, name: string, forge: boolean): Promise<string> {
    fs.mkdirSync(dir, { recursive: true });
    const work = fs.mkdtempSync(path.join(path.dirname(dir), 'planted-'));
    fs.mkdirSync(path.join(work, 'node-red'));
    fs.writeFileSync(path.join(work, 'node-red', 'flows.json'), PLANTED_FLOWS);
    const bytes = Buffer.from(PLANTED_FLOWS);
    const manifest = {
        format_version: '1.0',
        name: name.replace(/\.tar\.gz\.age$/, ''),
        timestamp: new Date().toISOString(),
        files: [{ path: 'node-red/flows.json', size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), mode: '0644', kind: 'file' }],
    };
    const manifestText = JSON.stringify(manifest);
    fs.writeFileSync(path.join(work, 'manifest.json'), manifestText);
    const entries = ['manifest.json', 'node-red/flows.json'];
    if (forge) {
        const key = crypto.randomBytes(32);
        const mac = crypto.createHmac('sha256', key).update('d3kos backup manifest\n').update(manifestText).digest('hex');
        fs.writeFileSync(path.join(work, 'manifest.auth'), JSON.stringify({ format: 'd3kos-backup-auth-1', key_id: '0123456789abcdef', hmac_sha256: mac }));
        entries.push('manifest.auth');
    }
    const gzip = execFileSync('tar', ['-czf', '-', '-C', work, ...entries]);
    const file = path.join(dir, name);
    await pipeline(await encryptStream(Readable.from([gzip]), [recipient]), fs.createWriteStream(file));
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    fs.writeFileSync(`${file}.sha256`, `${sha256}  ${name}\n`);
    fs.rmSync(work, { recursive: true, force: true });
    return name;
}

function assertNotThisBoat(err: unknown): true {
    assert.ok(err instanceof BoatDataError, String(err));
    assert.equal(err.code, 'BACKUP_NOT_THIS_BOAT', err.message);
    assert.match(err.message, /this backup was not made by this boat: its authenticator does not match the recovery key/);
    return true;
}

describe('a copy planted in the vault, encrypted to the public recovery recipient, never restores', function () {
    this.timeout(180000);
    let t: BackupTestBoat;
    let central: TestCentral;
    let fresh: ReturnType<typeof scratchFolder>;
    let nodeRed: RunningNodeRed | undefined;
    let recoveryKey: string;
    let real: string;
    const root = () => path.join(fresh.dir, 'd3kos');

    before(async () => {
        t = await backupTestBoat('planted-copy');
        fresh = scratchFolder('planted-copy-fresh');
        central = await testCentral(path.join(t.scratch.dir, 'central'), { [DEVICE_TOKEN]: t.boat.installationId }, [], 10);
        recoveryKey = (await makeRecoveryKey(t.boat.root)).recovery_key;
        // The boat's own copy goes ashore first, then the attacker's two (with the boat's device token), which are newer.
        const made = await createBackup({ ...t.settings, now: () => new Date('2026-11-01T10:00:00Z') });
        real = made.backup.name;
        const worker = new OffboatWorker({ root: t.boat.root, backupDir: () => t.boat.backupDir, centralUrl: () => central.url, token: async () => DEVICE_TOKEN });
        await worker.queueNewest();
        assert.equal((await worker.process()).result, 'sent');
        const attacker = path.join(t.scratch.dir, 'attacker');
        const recipient = (await recoveryRecipient(t.boat.root))!.recipient;
        for (const [name, forge] of [
            ['d3kos_backup_20261101_110000.tar.gz.age', false],
            ['d3kos_backup_20261101_120000.tar.gz.age', true],
        ] as const) {
            await plantedCopy(path.join(attacker, 'backups'), recipient, name, forge);
            const sender = new OffboatWorker({ root: attacker, backupDir: () => path.join(attacker, 'backups'), centralUrl: () => central.url, token: async () => DEVICE_TOKEN });
            await sender.queueNewest(name);
            assert.equal((await sender.process()).result, 'sent');
        }
    });
    after(async () => {
        await nodeRed?.stop();
        await central?.close();
        t?.scratch.remove();
        fresh?.remove();
    });

    it("POST /api/backup/recover refuses the newest (planted) copy, naming why, and writes nothing; the boat's own copy then restores", async () => {
        const boat = { root: root(), mediaDir: path.join(fresh.dir, 'camera'), backupDir: path.join(root(), 'backups') } as DemoBoat;
        nodeRed = await startBoat(fresh.dir, boat, {
            centralUrl: central.url,
            tweak: (flow) => {
                flow.splice(0, flow.length, ...flow.filter((n) => n.id === 'd3kos-backup-tab' || n.z === 'd3kos-backup-tab' || n.type === 'd3kos-config'));
                Object.assign(
                    flow.find((n) => n.id === 'backup-node')!,
                    { signalkSettings: 'none', signalkPluginConfig: 'none' },
                );
            },
        });
        const flowsFile = path.join(fresh.dir, 'boat-node-red', 'flows.json');
        const before = treeDigest(fresh.dir);
        // The copy first (no authenticator at all), then one with an authenticator of the attacker's own key, then the newest.
        for (const name of ['d3kos_backup_20261101_110000.tar.gz.age', 'd3kos_backup_20261101_120000.tar.gz.age', undefined]) {
            const body = JSON.stringify({ installation_id: t.boat.installationId, device_token: DEVICE_TOKEN, recovery_key: recoveryKey, ...(name ? { name } : {}) });
            const answer = await call(nodeRed, 'POST', '/api/backup/recover', { body, headers: json });
            assert.equal(answer.status, 422, answer.text);
            assert.equal(answer.json.success, false);
            const forged = name !== 'd3kos_backup_20261101_110000.tar.gz.age';
            assert.match(answer.json.error, forged ? /this backup was not made by this boat: its authenticator does not match the recovery key/ : /carries no authenticator/);
            assert.match(answer.json.error, /nothing was restored/);
            assert.deepEqual(treeDigest(fresh.dir), before, `the refused copy ${name ?? '(newest)'} wrote something`);
            assert.ok(!fs.readFileSync(flowsFile, 'utf8').includes('/tmp/owned'));
        }
        const body = JSON.stringify({ installation_id: t.boat.installationId, device_token: DEVICE_TOKEN, recovery_key: recoveryKey, name: real });
        const answer = await call(nodeRed, 'POST', '/api/backup/recover', { body, headers: json });
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.json.restored, real);
    });

    it('POST /api/backup/restore refuses a plain backup without an authenticator, and restores it when the owner says accept_unauthenticated', async () => {
        const work = fs.mkdtempSync(path.join(fresh.dir, 'old-'));
        const onboarding = Buffer.from('{"vessel_name": "From an old backup"}');
        fs.mkdirSync(path.join(work, 'config'));
        fs.writeFileSync(path.join(work, 'config', 'onboarding.json'), onboarding);
        const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
        const files = [{ path: 'config/onboarding.json', size: onboarding.length, sha256: sha(onboarding), mode: '0644', kind: 'file' }];
        fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify({ format_version: '1.0', files }));
        const name = 'd3kos_backup_20261001_000000.tar.gz';
        const archive = path.join(root(), 'backups', name);
        execFileSync('tar', ['-czf', archive, '-C', work, 'manifest.json', 'config/onboarding.json']);
        fs.writeFileSync(`${archive}.sha256`, `${sha(fs.readFileSync(archive))}  ${name}\n`);
        const refused = await call(nodeRed!, 'POST', '/api/backup/restore', { body: JSON.stringify({ name }), headers: json });
        assert.equal(refused.status, 422, refused.text);
        assert.equal(refused.json.code, 'BACKUP_UNAUTHENTICATED');
        const accepted = await call(nodeRed!, 'POST', '/api/backup/restore', { body: JSON.stringify({ name, accept_unauthenticated: true }), headers: json });
        assert.equal(accepted.status, 200, accepted.text);
        assert.equal(fs.readFileSync(path.join(root(), 'config', 'onboarding.json'), 'utf8'), onboarding.toString());
    });

    it('d3kos-recover (recoverFromCentral) refuses it the same way, with nothing written', async () => {
        const card = scratchFolder('planted-copy-card');
        try {
            const layout = { ...t.boat.layout, root: path.join(card.dir, 'd3kos'), backupDir: path.join(card.dir, 'd3kos', 'backups') };
            fs.mkdirSync(layout.backupDir, { recursive: true });
            const before = treeDigest(card.dir);
            await assert.rejects(
                recoverFromCentral({
                    settings: { layout, flowsFile: path.join(card.dir, 'flows.json'), signalkSettings: null, signalkPluginConfig: null, requireMountedDrive: false },
                    centralUrl: central.url,
                    installationId: t.boat.installationId,
                    deviceToken: DEVICE_TOKEN,
                    recoveryKey,
                    name: 'd3kos_backup_20261101_120000.tar.gz.age',
                }),
                assertNotThisBoat,
            );
            assert.deepEqual(treeDigest(card.dir), before);
        } finally {
            card.remove();
        }
    });

    it("placed in the boat's own backup folder, it is refused by the restore with the recovery key, and the boat is unchanged", async () => {
        const recipient = (await recoveryRecipient(t.boat.root))!.recipient;
        const name = await plantedCopy(t.boat.backupDir, recipient, 'd3kos_backup_20261102_000000.tar.gz.age', true);
        const before = treeDigest(t.scratch.dir, (r) => r.startsWith('central') || r.startsWith('attacker'));
        await assert.rejects(restoreBackup({ ...t.settings, identities: [recoveryKey] }, name), assertNotThisBoat);
        assert.deepEqual(
            treeDigest(t.scratch.dir, (r) => r.startsWith('central') || r.startsWith('attacker')),
            before,
        );
        assert.ok(!fs.readFileSync(t.flowsFile, 'utf8').includes('/tmp/owned'));
    });
});
