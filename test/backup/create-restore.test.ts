import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, listBackups, restoreBackup, verifyBackup } from '../../lib/backup';
import { backupTestBoat, BackupTestBoat, boatTokens, databaseContents, databasesOf, integrityOf, treeDigest } from './boat';

/** The data root, Node-RED's flows and Signal K's files: everything a restore writes (SQLite's own side files aside). */
function boatFiles(t: BackupTestBoat): Map<string, string> {
    const inRoot = treeDigest(t.boat.root, (relative) => relative === 'backups' || /-(wal|shm)$/.test(relative));
    const home = treeDigest(path.join(t.scratch.dir, 'home'));
    return new Map([...inRoot, ...[...home].map(([k, v]) => [`home/${k}`, v] as [string, string])]);
}

/** Plain files compared byte for byte; databases (rewritten by any snapshot) compared by their rows. */
async function assertSameBoat(t: BackupTestBoat, before: Map<string, string>, databases: Record<string, Record<string, unknown[]>>): Promise<void> {
    const after = boatFiles(t);
    for (const [file, sha] of before) {
        if (file in databases) continue;
        assert.equal(after.get(file), sha, `${file} differs after the restore`);
    }
    for (const [file, contents] of Object.entries(databases)) {
        const restored = path.join(t.boat.root, file);
        assert.equal(await integrityOf(restored), 'ok', file);
        assert.deepEqual(await databaseContents(restored), contents, `${file} holds other rows after the restore`);
    }
}

function wipe(t: BackupTestBoat, keep: string[] = []): void {
    const kept = keep.map((file) => [file, fs.readFileSync(file)] as const);
    for (const folder of ['config', 'data', 'state', 'services']) fs.rmSync(path.join(t.boat.root, folder), { recursive: true, force: true });
    fs.rmSync(path.join(t.scratch.dir, 'home'), { recursive: true, force: true });
    for (const [file, bytes] of kept) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, bytes);
    }
}

describe('backup and restore of a boat', function () {
    this.timeout(30000);
    let t: BackupTestBoat;

    beforeEach(async () => {
        t = await backupTestBoat('backup-roundtrip');
    });
    afterEach(() => t.scratch.remove());

    it('create, wipe the boat, restore: every file comes back byte for byte and every database with the same rows', async () => {
        const before = boatFiles(t);
        const databases: Record<string, Record<string, unknown[]>> = {};
        for (const db of databasesOf(t.boat.root)) databases[db] = await databaseContents(path.join(t.boat.root, db));
        assert.ok(Object.keys(databases).length >= 4, `databases found: ${Object.keys(databases)}`);

        const tokens = boatTokens(t);
        const made = await createBackup(t.settings);
        // The boat keeps its secret files: they are never in a backup, so a wipe of the data leaves them to the owner.
        wipe(t, [t.boat.layout.cloudCredentials, t.boat.layout.apiKeysEnv]);
        const report = await restoreBackup(t.settings, made.backup.name);

        assert.equal(report.success, true);
        assert.equal(report.restored, made.backup.name);
        // Token fields of the config files are not in the backup either, and the wiped card has no live copy to take them from.
        assert.deepEqual(report.secrets_missing, ['user-preferences.json:integrations.weather.api_token', 'vessel.env:SIGNALK_TOKEN']);
        for (const [file, ref] of [
            ['config/user-preferences.json', 'integrations.weather.api_token'],
            ['services/dashboard/config/vessel.env', 'SIGNALK_TOKEN'],
        ]) {
            const text = fs.readFileSync(path.join(t.boat.root, file), 'utf8');
            assert.ok(text.includes(`[[d3kos-secret:${path.basename(file)}:${ref}]]`), `${file} does not mark its missing token`);
            for (const token of Object.values(tokens)) assert.ok(!text.includes(token), `${file} holds a token the backup should have left out`);
            before.delete(file);
        }
        await assertSameBoat(t, before, databases);
        assert.ok(report.restart_required.includes('boatlog') && report.restart_required.includes('node-red'), report.restart_required.join());
    });

    it('the archive holds the manifest, a README, databases, config, boatlog, manuals, onboarding, flows and Signal K, but no camera recordings', async () => {
        const made = await createBackup(t.settings);
        const listing = execFileSync('tar', ['-tzf', made.backup.path], { encoding: 'utf8' }).trim().split('\n');
        for (const expected of [
            'manifest.json',
            'manifest.auth',
            'README.txt',
            'config/license.json',
            'config/onboarding.json',
            'state/onboarding-reset-count.json',
            'services/dashboard/config/vessel.env',
            'data/boatlog/boatlog.db',
            'data/telemetry/telemetry.db',
            'data/manuals/engine-manual.txt',
            'node-red/flows.json',
            'signalk/settings.json',
            'signalk/plugin-config-data/anchoralarm.json',
        ]) {
            assert.ok(listing.includes(expected), `${expected} is not in the archive: ${listing.join(', ')}`);
        }
        assert.ok(!listing.some((p) => /\.(mp4|jpg)$/.test(p)), 'a camera recording went into the backup');
        assert.ok(!listing.some((p) => /-(wal|shm)$/.test(p)), 'a raw SQLite side file went into the backup');
        const manifest = JSON.parse(execFileSync('tar', ['-xzOf', made.backup.path, 'manifest.json'], { encoding: 'utf8' }));
        assert.equal(manifest.installation_id, t.boat.installationId);
        assert.equal(manifest.tier, t.boat.tier);
        assert.equal(manifest.format_version, '1.0');
        assert.equal(manifest.d3kos_version, '0.9.1.2');
        assert.equal(manifest.items.databases, 4);
        assert.equal(manifest.items.manuals, 2);
        // Every file but the manifest and its authenticator is listed in the manifest.
        assert.equal(manifest.files.length, listing.length - 2);
        assert.equal(made.backup.file_count, manifest.files.length);
    });

    it('sha256sum -c accepts the checksum file, and the archive is readable by its owner only', async () => {
        const made = await createBackup(t.settings);
        const out = execFileSync('sha256sum', ['-c', `${made.backup.name}.sha256`], { cwd: t.boat.backupDir, encoding: 'utf8' });
        assert.equal(out.trim(), `${made.backup.name}: OK`);
        assert.match(made.backup.name, /^d3kos_backup_\d{8}_\d{6}\.tar\.gz$/);
        assert.equal(fs.statSync(made.backup.path).mode & 0o777, 0o600);
    });

    it('no secret value reaches the manifest, the README or the report, and the secret files stay out of the archive', async () => {
        const made = await createBackup(t.settings);
        const manifest = execFileSync('tar', ['-xzOf', made.backup.path, 'manifest.json'], { encoding: 'utf8' });
        const readme = execFileSync('tar', ['-xzOf', made.backup.path, 'README.txt'], { encoding: 'utf8' });
        for (const secret of t.boat.secrets) {
            for (const [what, text] of [
                ['manifest', manifest],
                ['README', readme],
                ['report', JSON.stringify(made)],
            ]) {
                assert.ok(!text.includes(secret), `the ${what} holds a secret value`);
            }
        }
        const listing = execFileSync('tar', ['-tzf', made.backup.path], { encoding: 'utf8' });
        assert.ok(!listing.includes('cloud-credentials.json') && !listing.includes('api-keys.env'), listing);
        // Values of the secret files copied into other files are replaced in the archive too.
        const everything = execFileSync('tar', ['-xzOf', made.backup.path], { maxBuffer: 64 << 20 }).toString('latin1');
        const held = fs.readFileSync(t.boat.layout.apiKeysEnv, 'utf8');
        const openai = /OPENAI_API_KEY=(.*)/.exec(held)![1];
        assert.ok(fs.readFileSync(t.boat.layout.preferences, 'utf8').includes(openai), 'the demo boat should copy the key into its preferences');
        assert.ok(!everything.includes(openai), 'a secret value copied into user-preferences.json went into the archive');
    });

    it('a short secret (8 characters) copied into another file is replaced in the archive and put back by a restore; shorter values are left as text', async () => {
        fs.appendFileSync(t.boat.layout.apiKeysEnv, 'DOOR_PIN=7Q9zK2mX\nREGION=eu-west\n');
        const preferences = JSON.parse(fs.readFileSync(t.boat.layout.preferences, 'utf8'));
        fs.writeFileSync(t.boat.layout.preferences, JSON.stringify({ ...preferences, door_pin: '7Q9zK2mX', cloud_region: 'eu-west' }, null, 2));
        const before = fs.readFileSync(t.boat.layout.preferences, 'utf8');

        const made = await createBackup(t.settings);
        const archived = execFileSync('tar', ['-xzOf', made.backup.path, 'config/user-preferences.json'], { encoding: 'utf8' });
        assert.ok(!archived.includes('7Q9zK2mX'), 'an 8-character secret copied into user-preferences.json went into the archive');
        assert.match(archived, /"door_pin": "\[\[d3kos-secret:api-keys\.env:DOOR_PIN\]\]"/);
        assert.match(archived, /"cloud_region": "eu-west"/);

        // The same boat: its secret files and its live preferences (whose token field the backup left out) stay.
        wipe(t, [t.boat.layout.cloudCredentials, t.boat.layout.apiKeysEnv, t.boat.layout.preferences, t.boat.layout.vesselEnv]);
        const report = await restoreBackup(t.settings, made.backup.name);
        assert.deepEqual(report.secrets_missing, []);
        assert.equal(fs.readFileSync(t.boat.layout.preferences, 'utf8'), before);
    });

    it('a restore of a wiped boat whose secret files are gone says which secrets to enter again', async () => {
        const made = await createBackup(t.settings);
        wipe(t);
        const report = await restoreBackup(t.settings, made.backup.name);
        assert.ok(report.secrets_missing.includes('api-keys.env:OPENAI_API_KEY'), report.secrets_missing.join());
        assert.match(report.message, /Enter these secrets again/);
        assert.equal(JSON.parse(fs.readFileSync(t.boat.layout.license, 'utf8')).installation_id, t.boat.installationId);
    });

    it("the boat keeps its own installation_id through a restore, unless asked to take the backup's", async () => {
        const made = await createBackup(t.settings);
        const license = JSON.parse(fs.readFileSync(t.boat.layout.license, 'utf8'));
        fs.writeFileSync(t.boat.layout.license, JSON.stringify({ ...license, installation_id: '0123456789abcdef' }));

        const kept = await restoreBackup(t.settings, made.backup.name);
        assert.equal(JSON.parse(fs.readFileSync(t.boat.layout.license, 'utf8')).installation_id, '0123456789abcdef');
        assert.equal(kept.installation_id.kept, '0123456789abcdef');

        const taken = await restoreBackup(t.settings, made.backup.name, { keepInstallationId: false });
        assert.equal(JSON.parse(fs.readFileSync(t.boat.layout.license, 'utf8')).installation_id, t.boat.installationId);
        assert.equal(taken.installation_id.kept, t.boat.installationId);
    });

    it('the safety backup a restore takes first brings back the boat as it was before the restore', async () => {
        const made = await createBackup(t.settings);
        // The boat moves on after the backup: new boatlog rows, a changed preference, a new manual.
        execFileSync('sqlite3', [
            t.boat.layout.boatlogDb,
            "INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content) VALUES ('after-1', '2027-01-01T00:00:00Z', 'text', 'written after the backup')",
        ]);
        fs.writeFileSync(path.join(t.boat.layout.manualsDir, 'windlass.txt'), 'Windlass: 12 V, 1000 W.\n');
        const moved = boatFiles(t);
        const movedDatabases: Record<string, Record<string, unknown[]>> = {};
        for (const db of databasesOf(t.boat.root)) movedDatabases[db] = await databaseContents(path.join(t.boat.root, db));

        const report = await restoreBackup(t.settings, made.backup.name);
        assert.match(report.safety_backup, /^d3kos_backup_\d{8}_\d{6}(_\d+)?_pre-restore\.tar\.gz$/);
        assert.ok(!(await databaseContents(t.boat.layout.boatlogDb)).boatlog_entries.some((r: any) => r.entry_id === 'after-1'));

        const undo = await restoreBackup(t.settings, report.safety_backup);
        assert.equal(undo.restored, report.safety_backup);
        await assertSameBoat(t, moved, movedDatabases);
        assert.ok(fs.existsSync(path.join(t.boat.layout.manualsDir, 'windlass.txt')));
        const listed = await listBackups(t.settings);
        assert.ok(listed.backups.some((b) => b.name === report.safety_backup && b.pre_restore));
    });

    it('list shows every backup newest first with its size and time, and verify checks one end to end', async () => {
        const first = await createBackup({ ...t.settings, now: () => new Date('2026-11-20T02:00:00Z') });
        const second = await createBackup({ ...t.settings, now: () => new Date('2026-11-21T02:00:00Z') });
        const listed = await listBackups(t.settings);
        assert.equal(listed.count, 2);
        assert.deepEqual(
            listed.backups.map((b) => b.name),
            ['d3kos_backup_20261121_020000.tar.gz', 'd3kos_backup_20261120_020000.tar.gz'],
        );
        assert.deepEqual(listed.last_backup, { name: second.backup.name, created_at: '2026-11-21T02:00:00.000Z', size_bytes: second.backup.size_bytes });
        assert.equal(listed.backups[1].size_bytes, fs.statSync(first.backup.path).size);
        const verified = await verifyBackup(t.settings, first.backup.name);
        assert.equal(verified.valid, true);
        assert.equal(verified.files_checked, first.backup.file_count);
    });

    it('two backups in the same second get different names', async () => {
        const now = () => new Date('2026-11-20T02:00:00Z');
        const [a, b] = await Promise.all([createBackup({ ...t.settings, now }), createBackup({ ...t.settings, now })]);
        assert.notEqual(a.backup.name, b.backup.name);
        assert.deepEqual((await listBackups(t.settings)).backups.map((x) => x.name).sort(), [a.backup.name, b.backup.name].sort());
    });
});
