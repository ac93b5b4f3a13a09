import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup } from '../../lib/backup';
import { makeRecoveryKey } from '../../lib/crypto/keys';
import { OffboatWorker } from '../../lib/offboat/worker';
import type { DemoBoat } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { call, startBoat } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { backupTestBoat, BackupTestBoat, treeDigest } from '../backup/boat';
import { testCentral, TestCentral } from '../offboat/central';

const DEVICE_TOKEN = 'device-token-for-the-dashboard-recovery';
const json = { 'Content-Type': 'application/json' };

describe('"Restore from the central copy" on a fresh card, over the boat flow', function () {
    this.timeout(120000);
    let t: BackupTestBoat;
    let central: TestCentral;
    let fresh: ReturnType<typeof scratchFolder>;
    let nodeRed: RunningNodeRed | undefined;

    before(async () => {
        t = await backupTestBoat('recover-route');
        fresh = scratchFolder('recover-route-fresh');
        central = await testCentral(path.join(t.scratch.dir, 'central'), { [DEVICE_TOKEN]: t.boat.installationId });
    });
    after(async () => {
        await nodeRed?.stop();
        await central?.close();
        t?.scratch.remove();
        fresh?.remove();
    });

    it('POST /api/backup/recover downloads the newest copy and the backup node restores it with the key, secrets included', async () => {
        const recoveryKey = (await makeRecoveryKey(t.boat.root)).recovery_key;
        const made = await createBackup(t.settings);
        const worker = new OffboatWorker({ root: t.boat.root, backupDir: () => t.boat.backupDir, centralUrl: () => central.url, token: async () => DEVICE_TOKEN });
        await worker.queueNewest();
        assert.equal((await worker.process()).result, 'sent');

        // The new card: an empty data root; its Node-RED runs the boat flow (backup tab and configuration only).
        const root = path.join(fresh.dir, 'd3kos');
        const boat = { root, mediaDir: path.join(fresh.dir, 'camera'), backupDir: path.join(root, 'backups') } as DemoBoat;
        nodeRed = await startBoat(fresh.dir, boat, {
            centralUrl: central.url,
            tweak: (flow) => {
                flow.splice(0, flow.length, ...flow.filter((n) => n.id === 'd3kos-backup-tab' || n.z === 'd3kos-backup-tab' || n.type === 'd3kos-config'));
                const backup = flow.find((n) => n.id === 'backup-node')!;
                Object.assign(backup, { signalkSettings: 'none', signalkPluginConfig: 'none' });
            },
        });
        const body = JSON.stringify({ installation_id: t.boat.installationId, device_token: DEVICE_TOKEN, recovery_key: recoveryKey });
        const answer = await call(nodeRed, 'POST', '/api/backup/recover', { body, headers: json });
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.json.restored, made.backup.name);
        assert.deepEqual(answer.json.secrets_missing, []);
        assert.ok(!answer.text.includes(recoveryKey), 'the answer holds the recovery key');
        assert.ok(!nodeRed.log().includes(recoveryKey), "Node-RED's log holds the recovery key");
        for (const file of ['config/cloud-credentials.json', 'config/api-keys.env', 'config/license.json']) {
            assert.equal(treeDigest(path.join(root, 'config')).get(path.basename(file)), treeDigest(path.join(t.boat.root, 'config')).get(path.basename(file)), file);
        }
        for (const file of treeDigest(root).keys()) assert.ok(!fs.readFileSync(path.join(root, file)).includes(Buffer.from(recoveryKey)), `${file} holds the recovery key`);
        assert.equal((await call(nodeRed, 'GET', '/api/backup/offboat')).json.encrypted_backups, true);
    });
});
