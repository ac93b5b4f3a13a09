import { strict as assert } from 'node:assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { queryRows } from '../support/sqlite';
import { startLiveWriter, waitForRows } from '../backup/live-writer';
import { BackupBoat, createOverHttp, postJson, startBackupBoat, stopBackupBoat } from './backup-support';

async function idsIn(db: string): Promise<Set<string>> {
    return new Set((await queryRows<{ entry_id: string }>(db, 'SELECT entry_id FROM boatlog_entries')).map((r) => String(r.entry_id)));
}

// Finding: 20 rows inserted into boatlog.db by another process during a restore, 18 were gone
// (neither in the restored database nor in the safety backup).
describe('hostile network: POST /api/backup/restore while the boatlog service writes', function () {
    this.timeout(180000);
    let b: BackupBoat;
    before(async () => {
        b = await startBackupBoat('hostile-backup-writer');
    });
    after(() => stopBackupBoat(b));

    it('keeps every row committed before it began (in the safety backup) and after it finished (in boatlog.db), and says when that was', async () => {
        const name = await createOverHttp(b.nodeRed);
        const writer = await startLiveWriter(b.boat.layout.boatlogDb, 'http-writer', 5);
        let answer;
        try {
            await waitForRows(writer, 25);
            answer = await postJson(b.nodeRed, '/api/backup/restore', { name });
            await waitForRows(writer, 25);
        } finally {
            await writer.stop();
        }
        assert.equal(answer.status, 200, answer.text);
        const { restore_started_at, restore_finished_at, safety_backup, restore_window } = answer.json;
        assert.match(restore_window, new RegExp(`before ${restore_started_at} are in ${safety_backup}`));
        const started = Date.parse(restore_started_at);
        const finished = Date.parse(restore_finished_at);
        assert.deepEqual(
            writer.rows.filter((r) => r.error),
            [],
        );
        const before = writer.rows.filter((r) => r.committed! < started);
        const after = writer.rows.filter((r) => r.began > finished);
        assert.ok(before.length >= 10 && after.length >= 10, `rows before: ${before.length}, after: ${after.length}`);

        const copy = path.join(b.scratch.dir, 'safety-boatlog.db');
        fs.writeFileSync(copy, execFileSync('tar', ['-xzOf', path.join(b.boat.backupDir, safety_backup), 'data/boatlog/boatlog.db'], { maxBuffer: 256 << 20 }));
        const safety = await idsIn(copy);
        const live = await idsIn(b.boat.layout.boatlogDb);
        assert.deepEqual(
            before.filter((r) => !safety.has(r.entry_id)).map((r) => r.entry_id),
            [],
            'rows committed before the restore are not in its safety backup',
        );
        assert.deepEqual(
            after.filter((r) => !live.has(r.entry_id)).map((r) => r.entry_id),
            [],
            'rows committed after the restore are gone',
        );
        // Rows committed while it ran waited for their database: none is in neither place.
        const lost = writer.rows.filter((r) => r.committed && !safety.has(r.entry_id) && !live.has(r.entry_id)).map((r) => r.entry_id);
        assert.deepEqual(lost, [], 'rows committed during the restore were lost');
    });
});
