import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, drillBackup, drillProblem, listBackups } from '../../lib/backup';
import { makeRecoveryKey } from '../../lib/crypto/keys';
import { authenticateAsTheBoat, backupTestBoat, BackupTestBoat, sealArchive, treeDigest } from './boat';

// A restore drill proves a backup restorable in a scratch folder: a good one is proven, a damaged one fails
// with the reason in words, and either way nothing of the live boat changes.

/**
 * Unpacks a backup of ours, lets `change` alter its files and manifest, and packs and seals it again under its
 * name, signed with the boat's key (as only a fault on the boat could leave it) unless told otherwise.
 */
function alterBackup(t: BackupTestBoat, name: string, change: (dir: string, manifest: any) => void, options: { signed?: boolean } = {}): void {
    const work = fs.mkdtempSync(path.join(t.scratch.dir, 'altered-'));
    const archive = path.join(t.boat.backupDir, name);
    execFileSync('tar', ['-xzf', archive, '-C', work]);
    const manifest = JSON.parse(fs.readFileSync(path.join(work, 'manifest.json'), 'utf8'));
    change(work, manifest);
    fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify(manifest, null, 2));
    const signed = options.signed === false ? [] : [authenticateAsTheBoat(t, work)];
    const files = ['manifest.json', ...signed, ...manifest.files.map((f: { path: string }) => f.path).filter((p: string) => fs.existsSync(path.join(work, p)))];
    fs.rmSync(archive);
    execFileSync('tar', ['-czf', archive, '-C', work, ...files]);
    sealArchive(archive);
    fs.rmSync(work, { recursive: true, force: true });
}

/** The manifest entry of `file` made true again after its bytes changed, so only the contents are on trial. */
function reseal(dir: string, manifest: any, file: string): void {
    const bytes = fs.readFileSync(path.join(dir, file));
    const entry = manifest.files.find((f: { path: string }) => f.path === file);
    entry.size = bytes.length;
    entry.sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
}

const liveBoat = (t: BackupTestBoat) => treeDigest(t.boat.root, (relative) => relative.startsWith('backups'));

describe('a restore drill', function () {
    this.timeout(60000);
    let t: BackupTestBoat;

    beforeEach(async () => {
        t = await backupTestBoat('backup-drill');
    });
    afterEach(() => t.scratch.remove());

    it('proves a good backup of the demo boat restorable, leaves no scratch folder and is shown in the list', async () => {
        const made = await createBackup(t.settings);
        const databases = made.backup.items.databases;
        assert.ok(databases >= 3, 'the demo boat has several databases');
        const before = liveBoat(t);
        const drilled = await drillBackup(t.settings);
        assert.equal(drilled.success, true, JSON.stringify(drilled));
        assert.equal(drilled.name, made.backup.name);
        assert.ok(drilled.success);
        assert.deepEqual(drilled.checked, { files: made.backup.file_count, databases });
        assert.deepEqual(liveBoat(t), before, 'nothing of the live boat changed');
        assert.deepEqual(
            fs.readdirSync(t.boat.root).filter((n) => n.startsWith('.d3kos-drill-')),
            [],
        );
        const list = await listBackups(t.settings);
        assert.equal(list.backups[0].drill?.status, 'proven');
        assert.equal(list.newest_proven_at, drilled.success ? drilled.proven_at : null);
    });

    it('proves an encrypted backup with the boat key', async () => {
        await makeRecoveryKey(t.boat.root);
        const made = await createBackup(t.settings);
        assert.equal(made.backup.encrypted, true);
        const drilled = await drillBackup(t.settings);
        assert.equal(drilled.success, true, JSON.stringify(drilled));
    });

    it('fails a backup holding a database that does not pass the integrity check, naming it', async () => {
        const { backup } = await createBackup(t.settings);
        alterBackup(t, backup.name, (dir, manifest) => {
            const db = manifest.files.find((f: { path: string; kind: string }) => f.kind === 'database' && f.path.includes('telemetry')).path;
            const file = path.join(dir, db);
            const bytes = fs.readFileSync(file);
            assert.ok(bytes.length >= 3 * 4096, 'the telemetry database spans several pages');
            // Page 2 onwards overwritten: the header still says SQLite, the b-trees are garbage.
            bytes.fill(0xa5, 4096 + 8, bytes.length - 8);
            fs.writeFileSync(file, bytes);
            reseal(dir, manifest, db);
        });
        const before = liveBoat(t);
        const drilled = await drillBackup(t.settings);
        assert.equal(drilled.success, false);
        assert.ok(!drilled.success);
        assert.match(drilled.error, /telemetry\.db (fails SQLite's integrity check|does not open as a database)/);
        assert.deepEqual(liveBoat(t), before);
        const list = await listBackups(t.settings);
        assert.equal(list.backups[0].drill?.status, 'failed');
        assert.equal(list.newest_proven_at, null);
        assert.match(drillProblem(list.backups, false, new Date()) ?? '', /^the newest backup failed its restore drill: .*telemetry\.db/);
    });

    it('fails a backup whose database lost rows since the manifest counted them', async () => {
        const { backup } = await createBackup(t.settings);
        alterBackup(t, backup.name, (_dir, manifest) => {
            const db = manifest.files.find((f: { kind: string; rows?: Record<string, number> }) => f.kind === 'database' && f.rows && Object.keys(f.rows).length > 0);
            const table = Object.keys(db.rows)[0];
            db.rows[table] += 1;
        });
        const drilled = await drillBackup(t.settings);
        assert.ok(!drilled.success);
        assert.match(drilled.error, /holds \d+ rows in \w+, but the backup recorded \d+/);
    });

    it('fails a backup the boat did not make, even with a matching checksum file', async () => {
        const { backup } = await createBackup(t.settings);
        alterBackup(t, backup.name, (dir) => fs.writeFileSync(path.join(dir, 'node-red', 'flows.json'), '[]'), { signed: false });
        const drilled = await drillBackup(t.settings);
        assert.ok(!drilled.success);
        assert.match(drilled.error, /not made by this boat|carries no authenticator/);
    });

    it('fails a backup with a flipped byte, in words', async () => {
        const { backup } = await createBackup(t.settings);
        const archive = path.join(t.boat.backupDir, backup.name);
        const bytes = fs.readFileSync(archive);
        bytes[Math.floor(bytes.length / 2)] ^= 0x01;
        fs.writeFileSync(archive, bytes);
        const before = liveBoat(t);
        const drilled = await drillBackup(t.settings);
        assert.ok(!drilled.success);
        assert.match(drilled.error, /is damaged: the archive's sha256 is [0-9a-f]+ but its checksum file says/);
        assert.deepEqual(liveBoat(t), before);
    });

    it('fails a backup with a file missing, naming the file', async () => {
        const { backup } = await createBackup(t.settings);
        alterBackup(t, backup.name, (dir) => fs.rmSync(path.join(dir, 'config', 'onboarding.json')));
        const drilled = await drillBackup(t.settings);
        assert.ok(!drilled.success);
        assert.match(drilled.error, /manifest lists config\/onboarding\.json but the archive does not contain it/);
    });

    it('is refused with nothing recorded when the data disk has no room for the scratch copy', async function () {
        if (process.getuid?.() !== 0) this.skip();
        const { backup } = await createBackup(t.settings);
        // The data root on a 1 MB tmpfs: the backup itself lives elsewhere, the scratch copy cannot fit.
        const small = path.join(t.scratch.dir, 'small-root');
        fs.mkdirSync(small);
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
        try {
            // The boat's keys come along (its backup authenticator key among them); the files do not fit.
            fs.cpSync(path.join(t.boat.root, 'keys'), path.join(small, 'keys'), { recursive: true });
            const settings = { ...t.settings, layout: { ...t.settings.layout, root: small } };
            await assert.rejects(drillBackup(settings, backup.name), /data disk .* has .* free but the restore drill needs .*; the drill was not run/);
            assert.equal((await listBackups(t.settings)).backups[0].drill, null);
        } finally {
            execFileSync('umount', [small]);
        }
    });

    it('says when no backup was proven for 14 days while automatic backups are on', () => {
        const now = new Date('2026-12-07T12:00:00Z');
        const old = { name: 'd3kos_backup_20261101_020000.tar.gz', created_at: '2026-11-01T02:00:00.000Z', kind: 'backup' as const };
        const fresh = { name: 'd3kos_backup_20261206_020000.tar.gz', created_at: '2026-12-06T02:00:00.000Z', kind: 'backup' as const };
        const provenLongAgo = { status: 'proven' as const, proven_at: '2026-11-01T03:00:00.000Z', files: 20, databases: 4 };
        assert.equal(
            drillProblem(
                [
                    { ...fresh, drill: null },
                    { ...old, drill: provenLongAgo },
                ],
                true,
                now,
            ),
            'no backup has been proven restorable for 14 days',
        );
        assert.equal(
            drillProblem(
                [
                    { ...fresh, drill: null },
                    { ...old, drill: provenLongAgo },
                ],
                false,
                now,
            ),
            null,
            'not while automatic backups are off',
        );
        assert.equal(drillProblem([{ ...fresh, drill: null }], true, now), null, 'a boat with backups for only a day has had no time to prove one');
        assert.equal(
            drillProblem(
                [
                    { ...fresh, drill: { ...provenLongAgo, proven_at: '2026-12-06T03:00:00.000Z' } },
                    { ...old, drill: null },
                ],
                true,
                now,
            ),
            null,
        );
    });
});
