import { strict as assert } from 'node:assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { call } from '../e2e/harness';
import { treeDigest } from '../backup/boat';
import { BackupBoat, createOverHttp, postJson, startBackupBoat, stopBackupBoat } from './backup-support';

// Finding: restore (and verify) followed a symbolic link in the backup folder that list and download
// refuse, and the error showed the sha256 of the file the link pointed at.
describe('hostile network: a symbolic link in the backup folder', function () {
    this.timeout(180000);
    let b: BackupBoat;
    let target: string;
    const link = 'd3kos_backup_20260101_000000.tar.gz';

    before(async () => {
        b = await startBackupBoat('hostile-backup-symlink');
        const made = await createOverHttp(b.nodeRed);
        target = path.join(b.scratch.dir, 'someone-elses.tar.gz');
        fs.renameSync(path.join(b.boat.backupDir, made), target);
        fs.rmSync(path.join(b.boat.backupDir, `${made}.sha256`));
        fs.symlinkSync(target, path.join(b.boat.backupDir, link));
        // A checksum file that does not match: a check of the archive would report the target's real sha256.
        fs.writeFileSync(path.join(b.boat.backupDir, `${link}.sha256`), `${'0'.repeat(64)}  ${link}\n`);
    });
    after(() => stopBackupBoat(b));

    it('POST /api/backup/restore refuses it with a JSON error that names the problem and shows nothing of the target', async () => {
        const before = treeDigest(b.boat.root, (p) => p.startsWith('backups'));
        const answer = await postJson(b.nodeRed, '/api/backup/restore', { name: link });
        assert.equal(answer.status, 422, answer.text);
        assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
        assert.equal(answer.json.success, false);
        assert.match(answer.json.error, /is a symbolic link, not an archive kept in the backup folder/);
        const sha = crypto.createHash('sha256').update(fs.readFileSync(target)).digest('hex');
        assert.ok(!answer.text.includes(sha), "the answer shows the target's sha256");
        assert.ok(!answer.text.includes('someone-elses'), 'the answer names the target');
        assert.deepEqual(
            treeDigest(b.boat.root, (p) => p.startsWith('backups')),
            before,
            'the restore changed the boat',
        );
        assert.deepEqual(
            fs.readdirSync(b.boat.backupDir).filter((n) => n.includes('pre-restore')),
            [],
            'a safety backup was taken for a refused restore',
        );
    });

    it('GET /api/backup/download refuses it the same way, and list does not show it', async () => {
        const answer = await call(b.nodeRed, 'GET', `/api/backup/download/${link}`);
        assert.equal(answer.status, 422, answer.text);
        assert.equal(answer.json.code, 'BACKUP_NOT_PLAIN');
        const listed = await call(b.nodeRed, 'GET', '/api/backup/list');
        assert.ok(!listed.json.backups.some((x: any) => x.name === link));
    });
});
