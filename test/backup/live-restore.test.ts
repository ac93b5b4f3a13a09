import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, restoreBackup } from '../../lib/backup';
import { queryRows, runSql } from '../support/sqlite';
import { backupTestBoat, BackupTestBoat, integrityOf } from './boat';
import { startLiveWriter, waitForRows } from './live-writer';

/** The entry_ids of boatlog.db inside an archive. */
async function boatlogIdsIn(t: BackupTestBoat, archive: string): Promise<Set<string>> {
    const copy = path.join(t.scratch.dir, `from-${path.basename(archive)}.db`);
    fs.writeFileSync(copy, execFileSync('tar', ['-xzOf', archive, 'data/boatlog/boatlog.db'], { maxBuffer: 256 << 20 }));
    return new Set((await queryRows<{ entry_id: string }>(copy, 'SELECT entry_id FROM boatlog_entries')).map((r) => String(r.entry_id)));
}

async function liveIds(t: BackupTestBoat): Promise<Set<string>> {
    return new Set((await queryRows<{ entry_id: string }>(t.boat.layout.boatlogDb, 'SELECT entry_id FROM boatlog_entries')).map((r) => String(r.entry_id)));
}

// Another process (the boatlog service) keeps writing to boatlog.db through its own open connection
// before, during and after a restore. A row committed before the restore began is in the safety
// backup; a row committed after it finished is in the restored database.
for (const mode of ['wal', 'delete'] as const) {
    describe(`a restore while another process writes to boatlog.db (journal mode ${mode})`, function () {
        this.timeout(60000);
        let t: BackupTestBoat;

        beforeEach(async () => {
            t = await backupTestBoat(`backup-live-${mode}`);
            await runSql(t.boat.layout.boatlogDb, `PRAGMA journal_mode = ${mode}`);
        });
        afterEach(() => t.scratch.remove());

        it('loses no row committed before it began or after it finished, and the writer never fails', async () => {
            const made = await createBackup(t.settings);
            const inBackup = await boatlogIdsIn(t, made.backup.path);
            const writer = await startLiveWriter(t.boat.layout.boatlogDb, `live-${mode}`, 5);
            try {
                await waitForRows(writer, 25);
                const report = await restoreBackup(t.settings, made.backup.name);
                await waitForRows(writer, 25);
                const rows = await writer.stop();

                const started = Date.parse(report.restore_started_at);
                const finished = Date.parse(report.restore_finished_at);
                assert.ok(started <= finished, JSON.stringify(report));
                assert.deepEqual(
                    rows.filter((r) => r.error),
                    [],
                    'the writer got an error',
                );
                const before = rows.filter((r) => r.committed! < started);
                const after = rows.filter((r) => r.began > finished);
                assert.ok(before.length >= 10 && after.length >= 10, `rows before: ${before.length}, after: ${after.length}`);

                const safety = await boatlogIdsIn(t, path.join(t.boat.backupDir, report.safety_backup));
                assert.deepEqual(
                    before.filter((r) => !safety.has(r.entry_id)).map((r) => r.entry_id),
                    [],
                    'rows committed before the restore are missing from the safety backup',
                );
                const live = await liveIds(t);
                assert.deepEqual(
                    after.filter((r) => !live.has(r.entry_id)).map((r) => r.entry_id),
                    [],
                    'rows committed after the restore are gone',
                );
                // Rows committed while it ran waited for their database: none is in neither place.
                const lost = rows.filter((r) => r.committed && !safety.has(r.entry_id) && !live.has(r.entry_id)).map((r) => r.entry_id);
                assert.deepEqual(lost, [], 'rows committed during the restore were lost');
                // The restored database is the backup's, plus what came after.
                for (const id of inBackup) assert.ok(live.has(id), `row ${id} of the backup is not in the restored database`);
                assert.ok(!before.some((r) => live.has(r.entry_id)), 'a row written after the backup survived the restore');
                assert.equal(await integrityOf(t.boat.layout.boatlogDb), 'ok');
                const [{ journal_mode }] = await queryRows<{ journal_mode: string }>(t.boat.layout.boatlogDb, 'PRAGMA journal_mode');
                assert.equal(journal_mode, mode);
            } finally {
                await writer.stop();
            }
        });
    });
}
