import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, restoreBackup, verifyBackup } from '../../lib/backup';
import { BoatDataError } from '../../lib/errors';
import { backupTestBoat, BackupTestBoat, sealArchive, treeDigest } from './boat';

/** Runs a restore that must be refused, and checks nothing changed anywhere in the scratch folder. */
async function assertRefused(t: BackupTestBoat, name: string, expected: { code: string; message: RegExp }): Promise<void> {
    const before = treeDigest(t.scratch.dir);
    await assert.rejects(restoreBackup(t.settings, name), (err: unknown) => {
        assert.ok(err instanceof BoatDataError, String(err));
        assert.equal(err.code, expected.code, err.message);
        assert.match(err.message, expected.message);
        assert.match(err.message, /nothing was restored/);
        return true;
    });
    const after = treeDigest(t.scratch.dir);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'a file appeared or disappeared');
    for (const [file, sha] of before) assert.equal(after.get(file), sha, `${file} changed`);
}

const HOSTILE_NAME = 'd3kos_backup_20260101_000000.tar.gz';

/** Builds an archive with GNU tar from a work folder, under a backup name, sealed with a matching checksum file. */
function hostileArchive(t: BackupTestBoat, build: (work: string) => string[]): string {
    const work = fs.mkdtempSync(path.join(t.scratch.dir, 'hostile-'));
    fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify({ format_version: '1.0', files: [] }));
    const args = build(work);
    const archive = path.join(t.boat.backupDir, HOSTILE_NAME);
    fs.mkdirSync(t.boat.backupDir, { recursive: true });
    execFileSync('tar', ['-czf', archive, '-C', work, ...args]);
    sealArchive(archive);
    fs.rmSync(work, { recursive: true, force: true });
    return HOSTILE_NAME;
}

describe('a backup that cannot be trusted is refused, and nothing is written', function () {
    this.timeout(30000);
    let t: BackupTestBoat;

    beforeEach(async () => {
        t = await backupTestBoat('backup-refusals');
    });
    afterEach(() => t.scratch.remove());

    it('one flipped byte in the archive', async () => {
        const made = await createBackup(t.settings);
        const bytes = fs.readFileSync(made.backup.path);
        bytes[Math.floor(bytes.length / 2)] ^= 0x01;
        fs.writeFileSync(made.backup.path, bytes);
        await assertRefused(t, made.backup.name, { code: 'BACKUP_DAMAGED', message: /sha256 .* checksum file says/ });
        await assert.rejects(verifyBackup(t.settings, made.backup.name), /damaged/);
    });

    it('a truncated archive, even with a checksum file made to match it', async () => {
        const made = await createBackup(t.settings);
        const bytes = fs.readFileSync(made.backup.path);
        fs.writeFileSync(made.backup.path, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
        await assertRefused(t, made.backup.name, { code: 'BACKUP_DAMAGED', message: /checksum file says/ });
        sealArchive(made.backup.path);
        await assertRefused(t, made.backup.name, { code: 'BACKUP_DAMAGED', message: /cannot be read|does not contain/ });
    });

    it('a file changed inside the archive, with the checksum file made to match', async () => {
        const made = await createBackup(t.settings);
        const work = path.join(t.scratch.dir, 'unpacked');
        fs.mkdirSync(work);
        execFileSync('tar', ['-xzf', made.backup.path, '-C', work]);
        fs.appendFileSync(path.join(work, 'config', 'onboarding.json'), ' ');
        fs.rmSync(made.backup.path);
        execFileSync('tar', ['-czf', made.backup.path, '-C', work, ...fs.readdirSync(work)]);
        sealArchive(made.backup.path);
        fs.rmSync(work, { recursive: true });
        await assertRefused(t, made.backup.name, { code: 'BACKUP_DAMAGED', message: /config\/onboarding\.json should be sha256/ });
    });

    it('a missing checksum file', async () => {
        const made = await createBackup(t.settings);
        fs.rmSync(`${made.backup.path}.sha256`);
        await assertRefused(t, made.backup.name, { code: 'BACKUP_CHECKSUM_MISSING', message: /no checksum file/ });
    });

    it('an entry with an absolute path', async () => {
        const target = path.join(t.scratch.dir, 'escaped.txt');
        const name = hostileArchive(t, (work) => {
            fs.writeFileSync(path.join(work, 'escaped.txt'), 'owned');
            return ['manifest.json', '-P', '--transform', `s,^escaped.txt,${target},`, 'escaped.txt'];
        });
        assert.match(execFileSync('tar', ['-tzf', path.join(t.boat.backupDir, name)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), new RegExp(`^${target}$`, 'm'));
        await assertRefused(t, name, { code: 'BACKUP_UNSAFE', message: /an absolute path/ });
    });

    it('an entry that climbs out with ..', async () => {
        const name = hostileArchive(t, (work) => {
            fs.writeFileSync(path.join(work, 'evil.txt'), 'owned');
            return ['manifest.json', '-P', '--transform', 's,^evil.txt,config/../../../evil.txt,', 'evil.txt'];
        });
        assert.match(execFileSync('tar', ['-tzf', path.join(t.boat.backupDir, name)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), /^config\/\.\.\/\.\.\/\.\.\/evil\.txt$/m);
        await assertRefused(t, name, { code: 'BACKUP_UNSAFE', message: /climbs out/ });
    });

    it('a symbolic link', async () => {
        const name = hostileArchive(t, (work) => {
            fs.mkdirSync(path.join(work, 'config'));
            fs.symlinkSync('/etc/passwd', path.join(work, 'config', 'license.json'));
            return ['manifest.json', 'config/license.json'];
        });
        await assertRefused(t, name, { code: 'BACKUP_UNSAFE', message: /a symbolic link to \/etc\/passwd/ });
    });

    it('a hard link', async () => {
        const name = hostileArchive(t, (work) => {
            fs.mkdirSync(path.join(work, 'config'));
            fs.writeFileSync(path.join(work, 'config', 'a.json'), '{}');
            fs.linkSync(path.join(work, 'config', 'a.json'), path.join(work, 'config', 'b.json'));
            return ['manifest.json', 'config/a.json', 'config/b.json'];
        });
        assert.match(execFileSync('tar', ['-tvzf', path.join(t.boat.backupDir, name)], { encoding: 'utf8' }), /^h.*link to config\/a\.json$/m);
        await assertRefused(t, name, { code: 'BACKUP_UNSAFE', message: /a hard link/ });
    });

    it('a device file', async () => {
        const name = hostileArchive(t, (work) => {
            fs.mkdirSync(path.join(work, 'data'));
            execFileSync('mknod', [path.join(work, 'data', 'disk'), 'b', '8', '0']);
            return ['manifest.json', 'data/disk'];
        });
        await assertRefused(t, name, { code: 'BACKUP_UNSAFE', message: /a device file/ });
    });

    it('a name that is not a backup name, or a path outside the backup folder', async () => {
        await assert.rejects(restoreBackup(t.settings, '../../etc/shadow'), (err: any) => err.code === 'BACKUP_NAME_INVALID' && err.statusCode === 400);
        await assert.rejects(restoreBackup(t.settings, 'd3kos_backup_20990101_000000.tar.gz'), (err: any) => err.code === 'BACKUP_NOT_FOUND' && err.statusCode === 404);
        await assert.rejects(restoreBackup(t.settings, undefined), (err: any) => err.code === 'BACKUP_NAME_MISSING');
    });
});
