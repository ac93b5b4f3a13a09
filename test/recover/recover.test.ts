import assert from 'node:assert/strict';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup } from '../../lib/backup';
import { keyFiles, makeRecoveryKey } from '../../lib/crypto/keys';
import { OffboatWorker } from '../../lib/offboat/worker';
import { packageRoot, RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { backupTestBoat, BackupTestBoat, databaseContents, databasesOf, integrityOf, treeDigest } from '../backup/boat';

const DEVICE_TOKEN = 'device-token-for-the-recovery-test-01';

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile(process.execPath, [path.join(packageRoot(), 'dist', 'bin', 'd3kos-recover.js'), ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
    });
}

describe('d3kos-recover: a new SD card restored from the central copy', function () {
    this.timeout(180000);
    let t: BackupTestBoat;
    let central: RunningNodeRed;
    let recoveryKey: string;
    let fresh: ReturnType<typeof scratchFolder>;

    before(async () => {
        t = await backupTestBoat('recover');
        fresh = scratchFolder('recover-fresh');
        const dataDir = path.join(t.scratch.dir, 'central-data');
        fs.mkdirSync(dataDir, { recursive: true });
        fs.writeFileSync(path.join(dataDir, 'devices.json'), JSON.stringify({ [DEVICE_TOKEN]: t.boat.installationId }));
        central = await startNodeRed({
            userDir: path.join(t.scratch.dir, 'central-node-red'),
            flows: JSON.parse(fs.readFileSync(path.join(packageRoot(), 'flows', 'central-ingest.json'), 'utf8')),
            env: { D3KOS_INGEST_DIR: dataDir, D3KOS_INGEST_MODE: 'tokens' },
            quiet: true,
        });
        recoveryKey = (await makeRecoveryKey(t.boat.root)).recovery_key;
    });
    after(async () => {
        await central?.stop();
        t?.scratch.remove();
        fresh?.remove();
    });

    it('downloads the newest copy, checks it and restores the boat byte for byte, secrets and installation id included, without keeping the key', async () => {
        const originals = treeDigest(t.boat.root, (relative) => relative === 'backups' || relative === 'keys' || relative === 'offboat' || /-(wal|shm)$/.test(relative));
        const databases: Record<string, Record<string, unknown[]>> = {};
        for (const db of databasesOf(t.boat.root)) databases[db] = await databaseContents(path.join(t.boat.root, db));

        // Two backups go ashore; the newer one is what a recovery takes.
        const worker = new OffboatWorker({ root: t.boat.root, backupDir: () => t.boat.backupDir, centralUrl: () => central.url, token: async () => DEVICE_TOKEN });
        await createBackup({ ...t.settings, now: () => new Date('2026-03-01T10:00:00Z') });
        await worker.queueNewest();
        assert.equal((await worker.process()).result, 'sent');
        fs.writeFileSync(path.join(t.boat.root, 'config', 'onboarding.json'), JSON.stringify({ complete: true, boat_name: 'Second Wind' }));
        originals.set('config/onboarding.json', treeDigest(path.join(t.boat.root, 'config')).get('onboarding.json')!);
        const newest = await createBackup({ ...t.settings, now: () => new Date('2026-03-02T10:00:00Z') });
        await worker.queueNewest();
        assert.equal((await worker.process()).result, 'sent');

        // The copy list is served by the vault in the central Node-RED, not taken by the ingest's /:id/:category route.
        const listed = await fetch(`${central.url}/api/v1/installations/${t.boat.installationId}/backups`, { headers: { Authorization: `Bearer ${DEVICE_TOKEN}` } });
        assert.equal(listed.status, 200);
        assert.equal(((await listed.json()) as { backups: Array<{ name: string }> }).backups[0].name, newest.backup.name);

        // The new card: an empty data root, no keys; a download a dropped link left half done.
        const root = path.join(fresh.dir, 'd3kos');
        const flowsFile = path.join(fresh.dir, 'home', '.node-red', 'flows.json');
        fs.mkdirSync(path.join(root, 'backups'), { recursive: true });
        const partial = path.join(root, 'backups', `.${newest.backup.name}.partial`);
        fs.writeFileSync(partial, fs.readFileSync(newest.backup.path).subarray(0, 100000));

        const args = ['--central', central.url, '--installation', t.boat.installationId, '--root', root, '--flows-file', flowsFile, '--signalk-settings', 'none', '--signalk-plugins', 'none'];
        const wrong = await run(args, { D3KOS_DEVICE_TOKEN: 'not-the-device-token-at-all', D3KOS_RECOVERY_KEY: recoveryKey });
        assert.equal(wrong.code, 1);
        assert.match(wrong.stderr, /401.*device token/);
        const done = await run(args, { D3KOS_DEVICE_TOKEN: DEVICE_TOKEN, D3KOS_RECOVERY_KEY: recoveryKey });
        assert.equal(done.code, 0, done.stderr);
        const report = JSON.parse(done.stdout);
        assert.equal(report.downloaded.name, newest.backup.name);
        assert.equal(report.downloaded.sha256, newest.backup.sha256);
        assert.deepEqual(report.secrets_missing, []);
        assert.equal(fs.existsSync(partial), false);

        const restored = treeDigest(root, (relative) => relative === 'backups' || relative === 'keys' || /-(wal|shm)$/.test(relative));
        for (const [file, sha] of originals) {
            if (file in databases) continue;
            assert.equal(restored.get(file), sha, `${file} is not byte-identical after the recovery`);
        }
        for (const secret of ['config/cloud-credentials.json', 'config/api-keys.env']) assert.equal(restored.get(secret), originals.get(secret), secret);
        for (const [file, contents] of Object.entries(databases)) {
            assert.equal(await integrityOf(path.join(root, file)), 'ok', file);
            assert.deepEqual(await databaseContents(path.join(root, file)), contents, file);
        }
        assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'config', 'license.json'), 'utf8')).installation_id, t.boat.installationId);
        assert.equal(fs.readFileSync(flowsFile, 'utf8'), fs.readFileSync(t.flowsFile, 'utf8'));

        // The key was used, not kept: only its public half is on the new card, so later backups are encrypted to it again.
        for (const file of treeDigest(fresh.dir).keys()) assert.ok(!fs.readFileSync(path.join(fresh.dir, file)).includes(Buffer.from(recoveryKey)), `${file} holds the recovery key`);
        assert.equal(fs.readFileSync(keyFiles(root).recoveryRecipient, 'utf8').match(/age1\S+/)![0], fs.readFileSync(keyFiles(t.boat.root).recoveryRecipient, 'utf8').match(/age1\S+/)![0]);
    });
});
