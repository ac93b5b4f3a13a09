import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup } from '../../lib/backup';
import { BoatDataError } from '../../lib/errors';
import { backupTestBoat, BackupTestBoat } from './boat';

describe('a full backup drive', function () {
    this.timeout(30000);
    let t: BackupTestBoat;
    let drive: string;

    before(function () {
        if (process.getuid?.() !== 0) this.skip();
    });
    beforeEach(async () => {
        t = await backupTestBoat('backup-full-drive');
        // A 1 MB drive: room for one small backup, not for a bigger one.
        drive = path.join(t.scratch.dir, 'usb');
        fs.mkdirSync(drive);
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', drive]);
    });
    afterEach(() => {
        execFileSync('umount', [drive]);
        t.scratch.remove();
    });

    it('leaves no partial archive, says the drive is full, and keeps the backups already there', async () => {
        const settings = { ...t.settings, layout: { ...t.boat.layout, backupDir: drive } };
        const first = await createBackup(settings);
        // The boat grows: a manual that cannot be compressed and does not fit beside the first backup.
        fs.writeFileSync(path.join(t.boat.layout.manualsDir, 'chartplotter.pdf'), crypto.randomBytes(1536 * 1024));

        await assert.rejects(createBackup(settings), (err: unknown) => {
            assert.ok(err instanceof BoatDataError);
            assert.equal(err.code, 'BACKUP_DRIVE_FULL');
            assert.equal(err.statusCode, 507);
            assert.match(err.message, /the backup drive is full .*no backup was written/);
            return true;
        });
        assert.deepEqual(fs.readdirSync(drive).sort(), [first.backup.name, `${first.backup.name}.sha256`]);
        assert.equal(execFileSync('sha256sum', ['-c', `${first.backup.name}.sha256`], { cwd: drive, encoding: 'utf8' }).trim(), `${first.backup.name}: OK`);
    });
});
