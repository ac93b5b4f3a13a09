import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { appendBoatlogRows } from '../../tools/demo-boat';
import { call, startCentral, waitFor } from '../e2e/harness';
import { queryRows, runSql } from '../support/sqlite';
import { scratchFolder } from '../support/folders';
import { BackupBoat, createOverHttp, postJson, startBackupBoat, stopBackupBoat } from './backup-support';
import { readExport } from '../support/exports';

// Finding: after a restore, new rows reuse rowids below the acknowledged mark and the daily
// incremental export skipped them (0 rows) until someone ran a full export.
describe('hostile network: the incremental export after POST /api/backup/restore', function () {
    this.timeout(240000);
    let central: RunningNodeRed;
    let centralScratch: ReturnType<typeof scratchFolder>;
    let b: BackupBoat;

    before(async () => {
        centralScratch = scratchFolder('hostile-incremental-central');
        central = await startCentral(centralScratch.dir);
        b = await startBackupBoat('hostile-incremental-boat', { tier: 2 }, central.url);
    });
    after(async () => {
        await stopBackupBoat(b);
        await central?.stop();
        centralScratch?.remove();
    });

    it('holds every row written after the restore', async () => {
        const name = await createOverHttp(b.nodeRed);
        const lost = await appendBoatlogRows(b.boat.layout.boatlogDb, 10);
        const lostTimestamps = (
            await queryRows<{ timestamp: string }>(b.boat.layout.boatlogDb, `SELECT timestamp FROM boatlog_entries WHERE entry_id IN (${lost.map((id) => `'${id}'`).join(',')})`)
        ).map((r) => r.timestamp);
        const full = await postJson(b.nodeRed, '/export/generate', { mode: 'full' });
        assert.equal(full.status, 200, full.text);
        await waitFor(
            'central to acknowledge the full export',
            async () => {
                const marks = JSON.parse(fs.readFileSync(b.boat.layout.watermarksFile, 'utf8'));
                return marks.last_export_id === full.json.export_id && marks.acknowledged.boatlog;
            },
            60000,
        );

        const restored = await postJson(b.nodeRed, '/api/backup/restore', { name });
        assert.equal(restored.status, 200, restored.text);
        // The boatlog service writes on; its clock gives the timestamps of the rows the restore took away.
        const written = lostTimestamps.slice(0, 5).map((_, i) => `after-restore-${i + 1}`);
        await runSql(
            b.boat.layout.boatlogDb,
            `INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content) VALUES ${written.map((id, i) => `('${id}', '${lostTimestamps[i]}', 'text', 'after the restore')`).join(', ')}`,
        );

        const incremental = await postJson(b.nodeRed, '/export/generate', { mode: 'incremental' });
        assert.equal(incremental.status, 200, incremental.text);
        const entries = readExport(incremental.json.export_file).json.data.boatlog.entries;
        const exported = new Set(entries.map((e: any) => e.entry_id));
        assert.deepEqual(
            written.filter((id) => !exported.has(id)),
            [],
            `the incremental export holds ${entries.length} boatlog rows`,
        );

        // Central gets the rows again, and its upsert keeps each row once.
        const stored = await waitFor(
            'the new rows at the central side',
            async () => {
                const read = await call(central, 'GET', `/api/v1/installations/${b.boat.installationId}/boatlog`);
                const rows = read.json?.entries ?? read.json?.rows ?? read.json?.boatlog;
                return Array.isArray(rows) && written.every((id) => rows.some((r: any) => r.entry_id === id)) ? rows : undefined;
            },
            60000,
        );
        const ids = stored.map((r: any) => r.entry_id);
        assert.equal(new Set(ids).size, ids.length, 'central holds a row twice');
    });
});
