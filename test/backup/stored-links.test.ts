import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { backupForDownload, createBackup, listBackups, restoreBackup, verifyBackup } from '../../lib/backup';
import { BoatDataError } from '../../lib/errors';
import { backupTestBoat, BackupTestBoat, treeDigest } from './boat';

// A symbolic link in the backup folder, named like a backup: list and download ignore it, and restore
// and verify refuse it too, naming the problem and telling nothing of the file it points at.
describe('a symbolic link in the backup folder named like a backup', function () {
    this.timeout(30000);
    let t: BackupTestBoat;
    let target: string;
    const link = 'd3kos_backup_20260101_000000.tar.gz';

    beforeEach(async () => {
        t = await backupTestBoat('backup-stored-links');
        const made = await createBackup(t.settings);
        // The target is a real backup of this boat kept elsewhere, with a checksum file that matches it.
        target = path.join(t.scratch.dir, 'elsewhere.tar.gz');
        fs.copyFileSync(made.backup.path, target);
        fs.rmSync(made.backup.path);
        fs.rmSync(`${made.backup.path}.sha256`);
        fs.symlinkSync(target, path.join(t.boat.backupDir, link));
        fs.writeFileSync(path.join(t.boat.backupDir, `${link}.sha256`), `${crypto.createHash('sha256').update(fs.readFileSync(target)).digest('hex')}  ${link}\n`);
    });
    afterEach(() => t.scratch.remove());

    const refused = async (work: Promise<unknown>) => {
        const err = await work.then(
            () => assert.fail('it was not refused'),
            (e: unknown) => e,
        );
        assert.ok(err instanceof BoatDataError, String(err));
        assert.equal(err.code, 'BACKUP_NOT_PLAIN');
        assert.match(err.message, /is a symbolic link, not an archive kept in the backup folder/);
        const sha = crypto.createHash('sha256').update(fs.readFileSync(target)).digest('hex');
        assert.ok(!err.message.includes(sha) && !err.message.includes(target) && !err.message.includes('elsewhere'), err.message);
    };

    it('verify refuses it', () => refused(verifyBackup(t.settings, link)));

    it('restore refuses it and changes nothing on the boat', async () => {
        const before = treeDigest(t.boat.root);
        await refused(restoreBackup(t.settings, link));
        assert.deepEqual(treeDigest(t.boat.root), before);
    });

    it('download refuses it as well, and list does not show it', async () => {
        await refused(backupForDownload(t.settings, link));
        assert.deepEqual((await listBackups(t.settings)).backups, []);
    });

    it('a plain archive whose checksum file is a link is refused too', async () => {
        const made = await createBackup(t.settings);
        const sidecar = `${made.backup.path}.sha256`;
        const moved = path.join(t.scratch.dir, 'sidecar');
        fs.renameSync(sidecar, moved);
        fs.symlinkSync(moved, sidecar);
        const err = await verifyBackup(t.settings, made.backup.name).catch((e: unknown) => e);
        assert.ok(err instanceof BoatDataError && err.code === 'BACKUP_NOT_PLAIN', String(err));
    });
});
