import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, restoreBackup, verifyBackup } from '../../lib/backup';
import { keyFiles, makeRecoveryKey } from '../../lib/crypto/keys';
import { BoatDataError } from '../../lib/errors';
import { backupTrust } from '../../lib/backup/authenticity';
import { verifyInto } from '../../lib/backup/verify-into';
import { backupTestBoat, BackupTestBoat, craftedArchive, sealArchive, treeDigest } from './boat';

/** Unpacks a plain backup, lets `change` edit the folder, packs it again and seals it with a fresh .sha256. */
function repack(archive: string, scratch: string, change: (work: string) => void): void {
    const work = fs.mkdtempSync(path.join(scratch, 'repack-'));
    execFileSync('tar', ['-xzf', archive, '-C', work]);
    change(work);
    const entries = execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter((e) => fs.existsSync(path.join(work, e)));
    fs.rmSync(archive);
    execFileSync('tar', ['-czf', archive, '-C', work, ...entries]);
    sealArchive(archive);
    fs.rmSync(work, { recursive: true, force: true });
}

/** Changes node-red/flows.json and writes its new size and sha256 into the manifest, as a careful forger would. */
function plantFlows(work: string): void {
    const flows = Buffer.from(JSON.stringify([{ id: 'x', type: 'exec', command: 'id > /tmp/owned' }]));
    fs.writeFileSync(path.join(work, 'node-red', 'flows.json'), flows);
    const manifest = JSON.parse(fs.readFileSync(path.join(work, 'manifest.json'), 'utf8'));
    const entry = manifest.files.find((f: { path: string }) => f.path === 'node-red/flows.json');
    Object.assign(entry, { size: flows.length, sha256: crypto.createHash('sha256').update(flows).digest('hex') });
    fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

async function assertRefused(t: BackupTestBoat, name: string, code: string, message: RegExp, options = {}): Promise<void> {
    const before = treeDigest(t.scratch.dir);
    await assert.rejects(restoreBackup(t.settings, name, options), (err: unknown) => {
        assert.ok(err instanceof BoatDataError, String(err));
        assert.equal(err.code, code, err.message);
        assert.match(err.message, message);
        assert.match(err.message, /nothing was restored/);
        return true;
    });
    assert.deepEqual(treeDigest(t.scratch.dir), before);
    assert.ok(!fs.readFileSync(t.flowsFile, 'utf8').includes('/tmp/owned'));
}

describe("only the boat's own backups restore", function () {
    this.timeout(60000);
    let t: BackupTestBoat;

    beforeEach(async () => {
        t = await backupTestBoat('backup-authenticity');
    });
    afterEach(() => t.scratch.remove());

    it('a real backup carries an authenticator, verifies as authenticated and restores', async () => {
        const made = await createBackup(t.settings);
        const listing = execFileSync('tar', ['-tzf', made.backup.path], { encoding: 'utf8' });
        assert.match(listing, /^manifest\.auth$/m);
        assert.doesNotMatch(listing, /backup-authenticators|keys\//, "the boat's authenticator keys went into the backup");
        assert.equal((await verifyBackup(t.settings, made.backup.name)).authenticated, true);
        execFileSync('sha256sum', ['-c', `${made.backup.name}.sha256`], { cwd: t.boat.backupDir });
        assert.equal((await restoreBackup(t.settings, made.backup.name)).restored, made.backup.name);
        assert.equal(fs.statSync(keyFiles(t.boat.root).authenticators).mode & 0o777, 0o600);
    });

    it('a plain backup with a changed flows.json, its manifest and .sha256 made to match, is refused with nothing written', async () => {
        const made = await createBackup(t.settings);
        repack(made.backup.path, t.scratch.dir, plantFlows);
        execFileSync('sha256sum', ['-c', `${made.backup.name}.sha256`], { cwd: t.boat.backupDir });
        await assertRefused(t, made.backup.name, 'BACKUP_NOT_THIS_BOAT', /this backup was not made by this boat: its authenticator matches none of this boat's backup keys/);
        await assert.rejects(verifyBackup(t.settings, made.backup.name), /not made by this boat/);
    });

    it('the same with its authenticator taken out is refused as carrying none', async () => {
        const made = await createBackup(t.settings);
        repack(made.backup.path, t.scratch.dir, (work) => {
            plantFlows(work);
            fs.rmSync(path.join(work, 'manifest.auth'));
        });
        await assertRefused(t, made.backup.name, 'BACKUP_UNAUTHENTICATED', /carries no authenticator/);
        await assert.rejects(verifyBackup(t.settings, made.backup.name), (err: any) => err.code === 'BACKUP_UNAUTHENTICATED');
    });

    it('a backup from before authenticators (none in it) restores only with accept_unauthenticated, the owner saying it is theirs', async () => {
        const name = craftedArchive(t, [{ path: 'config/onboarding.json', content: '{"vessel_name": "Old Backup"}' }], undefined, { authenticated: false });
        await assertRefused(t, name, 'BACKUP_UNAUTHENTICATED', /if you made it yourself on this boat, restore it with accept_unauthenticated/);
        const report = await restoreBackup(t.settings, name, { acceptUnauthenticated: true });
        assert.deepEqual(report.files_changed, ['config/onboarding.json']);
    });

    it('backups made before a new recovery key keep restoring on the boat, and a new key authenticates the next ones', async () => {
        const before = await createBackup({ ...t.settings, now: () => new Date('2026-11-01T10:00:00Z') });
        await makeRecoveryKey(t.boat.root);
        const after = await createBackup({ ...t.settings, now: () => new Date('2026-11-02T10:00:00Z') });
        assert.equal(after.backup.encrypted, true);
        assert.equal((await verifyBackup(t.settings, before.backup.name)).authenticated, true);
        assert.equal((await verifyBackup(t.settings, after.backup.name)).authenticated, true);
        assert.equal((await restoreBackup(t.settings, before.backup.name)).restored, before.backup.name);
    });

    it('verifyInto (for a restore drill) unpacks a proven backup into a scratch folder, and refuses a tampered one there too', async () => {
        const made = await createBackup(t.settings);
        const scratch = path.join(t.scratch.dir, 'drill');
        const trust = await backupTrust(t.boat.root);
        const before = treeDigest(t.boat.root);
        const { manifest, authenticity } = await verifyInto(made.backup.path, made.backup.name, scratch, undefined, trust);
        assert.equal(authenticity.authenticated, true);
        const unpacked = treeDigest(scratch);
        assert.equal(unpacked.size, manifest.files.length);
        for (const file of manifest.files) assert.equal(unpacked.get(file.path), file.sha256, file.path);
        assert.deepEqual(treeDigest(t.boat.root), before);

        repack(made.backup.path, t.scratch.dir, plantFlows);
        const other = path.join(t.scratch.dir, 'drill-2');
        await assert.rejects(verifyInto(made.backup.path, made.backup.name, other, undefined, trust), (err: any) => err.code === 'BACKUP_NOT_THIS_BOAT');
        assert.equal(fs.existsSync(other), false);
    });

    it('a boat whose recovery key predates authenticators is warned at each encrypted backup to make a new one', async () => {
        const recoveryKey = (await makeRecoveryKey(t.boat.root)).recovery_key;
        // As the boat was before this version: the recovery key's public half, and no authenticator derived from it.
        fs.rmSync(keyFiles(t.boat.root).authenticators);
        const made = await createBackup(t.settings);
        assert.equal(made.backup.encrypted, true);
        assert.ok(
            made.warnings.some((w) => /recovery key was made before backups carried an authenticator.*make a new recovery key/.test(w)),
            made.warnings.join('; '),
        );
        assert.equal((await verifyBackup(t.settings, made.backup.name)).authenticated, true);
        // On a new card (no ring) the recovery key cannot vouch for it.
        fs.rmSync(keyFiles(t.boat.root).authenticators);
        await assert.rejects(verifyBackup({ ...t.settings, identities: [recoveryKey] }, made.backup.name), /its authenticator does not match the recovery key/);
    });
});
