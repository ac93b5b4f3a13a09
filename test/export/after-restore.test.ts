import assert from 'node:assert/strict';
import { createBackup, restoreBackup } from '../../lib/backup';
import { appendBoatlogRows } from '../../tools/demo-boat';
import { exportBoatData } from '../../lib/export/collect-export';
import { acknowledgeWatermarks, readWatermarks } from '../../lib/export/watermarks';
import { queryRows, runSql } from '../support/sqlite';
import { readExports } from '../support/exports';
import { backupTestBoat, BackupTestBoat } from '../backup/boat';

// A restore takes boatlog.db back to an earlier state: rows written afterwards take rowids (and, on a
// boat whose clock came back the same way, timestamps) at or below what central already acknowledged.
describe('incremental exports after a restore', function () {
    this.timeout(120000);
    let t: BackupTestBoat;

    beforeEach(async () => {
        t = await backupTestBoat('export-after-restore', { tier: 2 });
    });
    afterEach(() => t.scratch.remove());

    /** Rows written after the restore, with the timestamps of rows the restore took away. */
    async function writeAfterRestore(lostTimestamps: string[]): Promise<string[]> {
        const ids = lostTimestamps.map((_, i) => `after-restore-${i + 1}`);
        const values = lostTimestamps.map((ts, i) => `('${ids[i]}', '${ts}', 'text', 'written after the restore')`).join(', ');
        await runSql(t.boat.layout.boatlogDb, `INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content) VALUES ${values}`);
        return ids;
    }

    it('the next incremental export holds every row written after the restore', async () => {
        const made = await createBackup(t.settings);
        const lost = await appendBoatlogRows(t.boat.layout.boatlogDb, 10);
        const lostTimestamps = (
            await queryRows<{ timestamp: string }>(t.boat.layout.boatlogDb, `SELECT timestamp FROM boatlog_entries WHERE entry_id IN (${lost.map((id) => `'${id}'`).join(',')}) ORDER BY rowid`)
        ).map((r) => r.timestamp);
        // Central has everything up to the newest row.
        const full = await exportBoatData(t.boat.layout, 'full');
        await acknowledgeWatermarks(t.boat.layout.watermarksFile, full.export_id, full.watermarks);
        assert.ok((await readWatermarks(t.boat.layout.watermarksFile)).acknowledged.boatlog?.rowid);

        const report = await restoreBackup(t.settings, made.backup.name);
        assert.equal(report.export_marks_reset, true);
        const written = await writeAfterRestore(lostTimestamps.slice(0, 5));

        const incremental = await exportBoatData(t.boat.layout, 'incremental', new Date(Date.now() + 1000));
        const file = readExports(t.boat.layout.exportFilesDir).find((e) => e.json.export_id === incremental.export_id)!;
        const exported = new Set(file.json.data.boatlog.entries.map((e: any) => e.entry_id));
        assert.deepEqual(
            written.filter((id) => !exported.has(id)),
            [],
            `rows missing from the incremental export (it holds ${exported.size})`,
        );
    });

    it('an export read before the restore and acknowledged after it does not move the marks back over the new rows', async () => {
        const made = await createBackup(t.settings);
        const lost = await appendBoatlogRows(t.boat.layout.boatlogDb, 10);
        const lostTimestamps = (
            await queryRows<{ timestamp: string }>(t.boat.layout.boatlogDb, `SELECT timestamp FROM boatlog_entries WHERE entry_id IN (${lost.map((id) => `'${id}'`).join(',')}) ORDER BY rowid`)
        ).map((r) => r.timestamp);
        const inFlight = await exportBoatData(t.boat.layout, 'full', new Date(Date.now() - 1000));

        await restoreBackup(t.settings, made.backup.name);
        // Central confirms the export only now (it was queued while offline).
        await acknowledgeWatermarks(t.boat.layout.watermarksFile, inFlight.export_id, inFlight.watermarks);
        assert.deepEqual((await readWatermarks(t.boat.layout.watermarksFile)).acknowledged, {});
        const written = await writeAfterRestore(lostTimestamps.slice(0, 3));

        const incremental = await exportBoatData(t.boat.layout, 'incremental', new Date(Date.now() + 1000));
        const file = readExports(t.boat.layout.exportFilesDir).find((e) => e.json.export_id === incremental.export_id)!;
        const exported = new Set(file.json.data.boatlog.entries.map((e: any) => e.entry_id));
        assert.deepEqual(
            written.filter((id) => !exported.has(id)),
            [],
        );
    });
});
