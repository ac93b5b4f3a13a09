import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, listBackups, restoreBackup, verifyBackup } from '../../lib/backup';
import { keyFiles, makeRecoveryKey } from '../../lib/crypto/keys';
import { boatLayout } from '../../lib/boat/layout';
import { scratchFolder } from '../support/folders';
import { backupTestBoat, BackupTestBoat, databaseContents, databasesOf, integrityOf, treeDigest } from '../backup/boat';

/** Everything under a folder except the backups, the boat's keys and SQLite side files. */
function dataFiles(root: string): Map<string, string> {
    return treeDigest(root, (relative) => relative === 'backups' || relative === 'keys' || /-(wal|shm)$/.test(relative));
}

/** The names of every file written under `dir` (to show a refusal wrote nothing). */
function writtenUnder(dir: string): string[] {
    return [...treeDigest(dir).keys()].sort();
}

describe('encrypted backups (age)', function () {
    this.timeout(60000);
    let t: BackupTestBoat;
    let recoveryKey: string;

    beforeEach(async () => {
        t = await backupTestBoat('encrypted-backup');
        recoveryKey = (await makeRecoveryKey(t.boat.root)).recovery_key;
    });
    afterEach(() => t.scratch.remove());

    it("once a recovery key exists a backup is encrypted, and Debian's age opens it with the recovery key and tar lists it", async () => {
        const made = await createBackup(t.settings);
        assert.match(made.backup.name, /^d3kos_backup_\d{8}_\d{6}\.tar\.gz\.age$/);
        assert.equal(made.backup.encrypted, true);
        const head = fs.readFileSync(made.backup.path).subarray(0, 22).toString('latin1');
        assert.equal(head, 'age-encryption.org/v1\n');

        // The sidecar is of the encrypted file: sha256sum -c checks a copy without any key.
        execFileSync('sha256sum', ['-c', `${made.backup.name}.sha256`], { cwd: t.boat.backupDir });

        const keyFile = path.join(t.scratch.dir, 'recovery-key.txt');
        fs.writeFileSync(keyFile, recoveryKey + '\n', { mode: 0o600 });
        const decrypted = path.join(t.scratch.dir, 'opened.tar.gz');
        execFileSync('age', ['-d', '-i', keyFile, '-o', decrypted, made.backup.path]);
        const listing = execFileSync('tar', ['tzf', decrypted], { encoding: 'utf8' }).trim().split('\n');
        for (const expected of ['manifest.json', 'README.txt', 'config/license.json', 'config/cloud-credentials.json', 'config/api-keys.env', 'node-red/flows.json']) {
            assert.ok(listing.includes(expected), `${expected} is not in the archive: ${listing.join(', ')}`);
        }
        assert.match(execFileSync('tar', ['xzOf', decrypted, 'README.txt'], { encoding: 'utf8' }), /this backup is encrypted \(age\), so config\/cloud-credentials\.json/);
        // The boat's own key is never in a backup, and nothing of it is in the archive's plain bytes.
        assert.ok(!listing.some((entry) => entry.startsWith('keys/')), listing.join(', '));
        const boatKey = fs.readFileSync(keyFiles(t.boat.root).boatIdentity, 'utf8').match(/AGE-SECRET-KEY-1\S+/)![0];
        assert.ok(!execFileSync('tar', ['xzOf', decrypted], { maxBuffer: 1 << 28 }).includes(boatKey));
    });

    it('the encrypted archive holds no secret value in clear', async () => {
        const made = await createBackup(t.settings);
        const bytes = fs.readFileSync(made.backup.path);
        for (const secret of t.boat.secrets) assert.ok(!bytes.includes(Buffer.from(secret)), 'a secret value is readable in the encrypted file');
    });

    it('the boat key is made once, mode 0600, in a folder only its user can open', async () => {
        await createBackup(t.settings);
        const files = keyFiles(t.boat.root);
        const first = fs.readFileSync(files.boatIdentity, 'utf8');
        assert.equal(fs.statSync(files.boatIdentity).mode & 0o777, 0o600);
        assert.equal(fs.statSync(files.recoveryRecipient).mode & 0o777, 0o600);
        assert.equal(fs.statSync(files.dir).mode & 0o777, 0o700);
        await createBackup(t.settings);
        assert.equal(fs.readFileSync(files.boatIdentity, 'utf8'), first);
        // Only the recovery key's public half is on the boat.
        assert.ok(!JSON.stringify(treeDigest(t.boat.root)).includes(recoveryKey));
        assert.ok(!fs.readFileSync(files.recoveryRecipient, 'utf8').includes('AGE-SECRET-KEY'));
    });

    it("an encrypted backup gathers its plaintext on the boat's disk: nothing but the sealed archive is written to the backup folder", async () => {
        const seen = async (encrypt: 'auto' | 'never') => {
            const names = new Set<string>();
            const watcher = fs.watch(t.boat.backupDir, { recursive: true }, (_event, name) => name && names.add(String(name)));
            try {
                await createBackup({ ...t.settings, encrypt });
                await new Promise((resolve) => setTimeout(resolve, 100));
            } finally {
                watcher.close();
            }
            return [...names];
        };
        fs.mkdirSync(t.boat.backupDir, { recursive: true });
        // The plain backup stages in the backup folder (what the watcher would catch).
        assert.ok((await seen('never')).some((name) => /^\.staging-[^/]+\/config\//.test(name)));
        const sealed = await seen('auto');
        assert.deepEqual(
            sealed.filter((name) => name.includes('/') || /config|api-keys|credentials|manifest/.test(name)),
            [],
            sealed.join(', '),
        );
        assert.deepEqual(
            fs.readdirSync(keyFiles(t.boat.root).dir).filter((name) => name.startsWith('.staging-')),
            [],
        );
    });

    it('list and verify say which backups are encrypted; verify decrypts and checks every file', async () => {
        const plain = await createBackup({ ...t.settings, encrypt: 'never' });
        const sealed = await createBackup(t.settings);
        const list = await listBackups(t.settings);
        const byName = new Map(list.backups.map((b) => [b.name, b]));
        assert.equal(byName.get(plain.backup.name)?.encrypted, false);
        assert.equal(byName.get(sealed.backup.name)?.encrypted, true);
        const verified = await verifyBackup(t.settings, sealed.backup.name);
        assert.equal(verified.encrypted, true);
        assert.equal(verified.files_checked, sealed.backup.file_count);
    });

    for (const damage of ['one flipped byte', 'a truncated copy'] as const) {
        it(`${damage} is refused by verify and restore, and the restore writes nothing`, async () => {
            const made = await createBackup(t.settings);
            const bytes = fs.readFileSync(made.backup.path);
            const damaged = damage === 'one flipped byte' ? Buffer.from(bytes) : bytes.subarray(0, Math.floor(bytes.length * 0.6));
            if (damage === 'one flipped byte') damaged[Math.floor(damaged.length / 2)] ^= 0x01;
            fs.writeFileSync(made.backup.path, damaged);
            // A matching sidecar, as a copy whose sidecar was remade would have: only age's own checks are on trial.
            fs.writeFileSync(`${made.backup.path}.sha256`, `${crypto.createHash('sha256').update(damaged).digest('hex')}  ${made.backup.name}\n`);

            const before = writtenUnder(t.boat.root);
            const digests = dataFiles(t.boat.root);
            await assert.rejects(verifyBackup(t.settings, made.backup.name), (err: any) => err.code === 'BACKUP_DAMAGED');
            await assert.rejects(restoreBackup(t.settings, made.backup.name), (err: any) => {
                assert.equal(err.code, 'BACKUP_DAMAGED');
                assert.match(err.message, /nothing was restored/);
                return true;
            });
            assert.deepEqual(writtenUnder(t.boat.root), before, 'the refused restore wrote a file');
            assert.deepEqual(dataFiles(t.boat.root), digests);
        });
    }

    it('an encrypted backup restored onto an empty data root with the recovery key gives the same files, secret files included', async () => {
        const originals = dataFiles(t.boat.root);
        const databases: Record<string, Record<string, unknown[]>> = {};
        for (const db of databasesOf(t.boat.root)) databases[db] = await databaseContents(path.join(t.boat.root, db));
        const made = await createBackup(t.settings);

        // A new SD card: an empty data root, no boat key, only the archive copied into its backup folder.
        const fresh = scratchFolder('encrypted-fresh');
        try {
            const layout = boatLayout({ root: path.join(fresh.dir, 'd3kos') });
            fs.mkdirSync(layout.backupDir, { recursive: true });
            for (const file of [made.backup.name, `${made.backup.name}.sha256`]) fs.copyFileSync(path.join(t.boat.backupDir, file), path.join(layout.backupDir, file));
            const settings = { ...t.settings, layout, flowsFile: path.join(fresh.dir, 'flows.json'), signalkSettings: null, signalkPluginConfig: null };

            await assert.rejects(restoreBackup(settings, made.backup.name), (err: any) => err.code === 'BACKUP_KEY_MISSING');
            const wrongKey = (await makeRecoveryKey(path.join(fresh.dir, 'elsewhere'))).recovery_key;
            await assert.rejects(restoreBackup({ ...settings, identities: [wrongKey] }, made.backup.name), (err: any) => err.code === 'BACKUP_KEY_MISMATCH');

            const report = await restoreBackup({ ...settings, identities: [recoveryKey] }, made.backup.name);
            assert.deepEqual(report.secrets_missing, []);
            const restored = dataFiles(layout.root);
            for (const [file, sha] of originals) {
                if (file in databases) continue;
                assert.equal(restored.get(file), sha, `${file} is not byte-identical after the restore`);
            }
            for (const secret of ['config/cloud-credentials.json', 'config/api-keys.env']) {
                assert.ok(originals.has(secret), secret);
                assert.equal(restored.get(secret), originals.get(secret), `${secret} did not come back`);
            }
            for (const [file, contents] of Object.entries(databases)) {
                assert.equal(await integrityOf(path.join(layout.root, file)), 'ok', file);
                assert.deepEqual(await databaseContents(path.join(layout.root, file)), contents, file);
            }
            // The recovery key was used, not kept.
            assert.ok(!JSON.stringify([...treeDigest(fresh.dir).keys()]).includes('recovery-key'));
            for (const file of treeDigest(layout.root).keys()) {
                const full = path.join(layout.root, file);
                if (fs.statSync(full).size < 1 << 24) assert.ok(!fs.readFileSync(full).includes(Buffer.from(recoveryKey)), `${file} holds the recovery key`);
            }
        } finally {
            fresh.remove();
        }
    });

    it('a new recovery key applies to every later backup; the older backup still opens only with the old key', async () => {
        const keyFile = (key: string) => {
            const file = path.join(t.scratch.dir, `k-${crypto.randomBytes(3).toString('hex')}`);
            fs.writeFileSync(file, key + '\n', { mode: 0o600 });
            return file;
        };
        const older = await createBackup(t.settings);
        const rotated = (await makeRecoveryKey(t.boat.root)).recovery_key;
        const newer = await createBackup(t.settings);
        const opens = (key: string, archive: string) => {
            try {
                execFileSync('age', ['-d', '-i', keyFile(key), '-o', '/dev/null', archive], { stdio: 'ignore' });
                return true;
            } catch {
                return false;
            }
        };
        assert.equal(opens(rotated, newer.backup.path), true);
        assert.equal(opens(recoveryKey, newer.backup.path), false);
        assert.equal(opens(recoveryKey, older.backup.path), true);
        assert.equal(opens(rotated, older.backup.path), false);
    });
});
