import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import { call } from '../e2e/harness';
import { BackupBoat, createOverHttp, postJson, startBackupBoat, stopBackupBoat } from './backup-support';

// Finding: ten POST /api/backup/create deleted every older backup, the pre-restore safety backup
// included, so a restore could no longer be undone.
describe('hostile network: safety backups outlive keep-N', function () {
    this.timeout(180000);
    let b: BackupBoat;
    before(async () => {
        b = await startBackupBoat('hostile-backup-safety');
    });
    after(() => stopBackupBoat(b));

    it('ten backups made over HTTP after a restore leave its safety backup, and list marks it as one', async () => {
        const first = await createOverHttp(b.nodeRed);
        const restored = await postJson(b.nodeRed, '/api/backup/restore', { name: first });
        assert.equal(restored.status, 200, restored.text);
        const safety: string = restored.json.safety_backup;
        for (let i = 0; i < 10; i++) await createOverHttp(b.nodeRed);

        const listed = await call(b.nodeRed, 'GET', '/api/backup/list');
        assert.equal(listed.status, 200, listed.text);
        const names = listed.json.backups.map((x: any) => x.name);
        assert.ok(!names.includes(first), 'keep-N (10) did not prune the oldest ordinary backup');
        assert.ok(fs.existsSync(path.join(b.boat.backupDir, safety)), `the safety backup ${safety} was deleted`);
        const entry = listed.json.backups.find((x: any) => x.name === safety);
        assert.ok(entry, `list does not show the safety backup ${safety}`);
        assert.equal(entry.kind, 'safety');
        assert.equal(entry.pre_restore, true);
        assert.equal(listed.json.backups.filter((x: any) => x.kind === 'backup').length, 10);

        const undo = await postJson(b.nodeRed, '/api/backup/restore', { name: safety });
        assert.equal(undo.status, 200, undo.text);
    });
});
