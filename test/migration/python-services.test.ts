import { strict as assert } from 'node:assert';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { DemoBoat } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { call, demoBoat, startBoat, startCentral, waitFor } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { readExport, exportFileOf } from '../support/exports';

// A boat as the d3kOS Python services leave it (MIGRATING.md): their queue file with an entry in every state,
// their export files (no export_id, no tier, categories as bare lists), their export history, and a backup made
// by the old create-backup.sh. This package's boat flow is started on it, beside a real central ingest, and
// carries on: the pending and half-sent exports are uploaded, the history is kept, the failed export stays
// failed with its reason, and the old backup is listed, and its restore refused with the reason, touching nothing.

const PENDING = 'export_20260220_164416';
const UPLOADING = 'export_20260220_100530';
const COMPLETED = 'export_20260219_030000';
const FAILED = 'export_20260218_030000';
const OLD_BACKUP = 'd3kos_backup_20260220_122502';

/** An export file as the Python export manager wrote it. */
function pythonExport(installationId: string, stamp: string, boatlogIds: string[]): unknown {
    return {
        installation_id: installationId,
        export_timestamp: stamp,
        format_version: '1.0',
        data: {
            engine_benchmark: [],
            boatlog: boatlogIds.map((id, i) => ({
                entry_id: id,
                timestamp: stamp,
                type: 'text',
                content: `written before the migration, entry ${i + 1}`,
                gps: { latitude: 44.1 + i / 100, longitude: -76.4 },
                weather: null,
            })),
            marine_vision_captures: [],
            marine_vision_snapshots: [],
            qr_codes: [],
            settings: { units: 'imperial', language: 'en' },
            system_alerts: [],
            onboarding: { boat_name: 'Before Migration', reset_count: 0 },
            telemetry: [],
        },
    };
}

/** An ISO time `days` before now, as the old services wrote them (migrated soon after they last ran). */
function daysAgo(days: number): string {
    return new Date(Date.now() - days * 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, '.000000Z');
}

/** A queue entry as the Python export queue wrote it. */
function pythonEntry(boat: DemoBoat, exportId: string, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const file = path.join(boat.layout.exportFilesDir, `${exportId}.json`);
    return {
        queue_id: `q_${exportId.slice('export_'.length)}`,
        export_file: file,
        created_at: daysAgo(1),
        tier: 2,
        category_count: 9,
        file_size_bytes: fs.existsSync(file) ? fs.statSync(file).size : 45632,
        status,
        retry_count: 0,
        next_retry_at: daysAgo(1),
        last_error: null,
        ...extra,
    };
}

function sha256(file: string): string {
    return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** What /opt/d3kos/scripts/create-backup.sh made: a folder of copies, tarred with its name, and a sha256sum line. */
function oldScriptBackup(boat: DemoBoat, work: string): void {
    const folder = path.join(work, OLD_BACKUP);
    fs.mkdirSync(path.join(folder, 'databases'), { recursive: true });
    fs.copyFileSync(boat.layout.boatlogDb, path.join(folder, 'databases', 'boatlog.db'));
    fs.cpSync(path.join(boat.root, 'config'), path.join(folder, 'config'), { recursive: true });
    fs.cpSync(path.dirname(boat.layout.boatlogDb), path.join(folder, 'boatlog'), { recursive: true });
    fs.mkdirSync(path.join(folder, 'onboarding'));
    fs.writeFileSync(
        path.join(folder, 'manifest.json'),
        JSON.stringify(
            {
                backup_name: OLD_BACKUP,
                timestamp: '2026-02-20T12:25:02-05:00',
                d3kos_version: '0.9.1',
                installation_id: boat.installationId,
                tier: 2,
                backup_size: '1.2M',
                items: { databases: 1, config_files: 3, manuals: 0 },
            },
            null,
            2,
        ),
    );
    fs.writeFileSync(path.join(folder, 'README.txt'), 'd3kOS Backup\n');
    fs.mkdirSync(boat.backupDir, { recursive: true });
    execFileSync('tar', ['-czf', path.join(boat.backupDir, `${OLD_BACKUP}.tar.gz`), OLD_BACKUP], { cwd: work });
    const line = execFileSync('sha256sum', [`${OLD_BACKUP}.tar.gz`], { cwd: boat.backupDir, encoding: 'utf8' });
    fs.writeFileSync(path.join(boat.backupDir, `${OLD_BACKUP}.tar.gz.sha256`), line);
}

describe('carrying on from the d3kOS Python services', function () {
    this.timeout(180000);
    let scratch: { dir: string; remove: () => void };
    let boat: DemoBoat;
    let central: RunningNodeRed;
    let nodeRed: RunningNodeRed;
    let licenseBefore: string;

    before(async () => {
        scratch = scratchFolder('migration');
        boat = await demoBoat(scratch.dir, { tier: 2, boatlogRows: 20, telemetryRows: 20 });
        const files = boat.layout.exportFilesDir;
        fs.mkdirSync(files, { recursive: true });
        fs.mkdirSync(boat.layout.failedExportsDir, { recursive: true });
        fs.writeFileSync(path.join(files, `${PENDING}.json`), JSON.stringify(pythonExport(boat.installationId, '2026-02-20T21:44:16.503345Z', ['py-pending-1', 'py-pending-2'])));
        fs.writeFileSync(path.join(files, `${UPLOADING}.json`), JSON.stringify(pythonExport(boat.installationId, '2026-02-20T10:05:30.000000Z', ['py-uploading-1'])));
        fs.writeFileSync(path.join(files, `${COMPLETED}.json`), JSON.stringify(pythonExport(boat.installationId, '2026-02-19T03:00:00.000000Z', ['py-completed-1'])));
        // The old service moved a failed export's file into failed_exports/ under its queue id.
        fs.writeFileSync(
            path.join(boat.layout.failedExportsDir, `q_${FAILED.slice('export_'.length)}_failed.json`),
            JSON.stringify(pythonExport(boat.installationId, '2026-02-18T03:00:00Z', ['py-failed-1'])),
        );

        const completed = pythonEntry(boat, COMPLETED, 'completed', { completed_at: daysAgo(3) });
        const queue = {
            version: '1.0',
            last_updated: '2026-02-20T21:44:16Z',
            pending: [pythonEntry(boat, PENDING, 'pending', { retry_count: 2, last_error: 'HTTPSConnectionPool: Name or service not known', next_retry_at: daysAgo(0.5) })],
            uploading: [pythonEntry(boat, UPLOADING, 'uploading', { retry_count: 1 })],
            completed: [completed],
            failed: [pythonEntry(boat, FAILED, 'failed', { retry_count: 4, last_error: 'HTTPSConnectionPool: Name or service not known', failed_at: daysAgo(2) })],
        };
        fs.writeFileSync(boat.layout.queueFile, JSON.stringify(queue, null, 2));
        fs.writeFileSync(boat.layout.historyFile, JSON.stringify({ version: '1.0', exports: [completed] }, null, 2));
        oldScriptBackup(boat, path.join(scratch.dir, 'old-script-work'));
        licenseBefore = sha256(boat.layout.license);

        central = await startCentral(scratch.dir);
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: central.url });
    });

    after(async () => {
        await nodeRed?.stop();
        await central?.stop();
        scratch?.remove();
    });

    it('the pending export and the one the old service left half-sent are uploaded to the central database, with their rows', async () => {
        const stored = await waitFor(
            'both old exports to reach the central database',
            async () => {
                const answers = await Promise.all([PENDING, UPLOADING].map((id) => call(central, 'GET', `/api/v1/exports/${id}`)));
                return answers.every((a) => a.status === 200) && answers;
            },
            60000,
        );
        for (const answer of stored) assert.equal(answer.json.installation_id ?? boat.installationId, boat.installationId);
        const rows = await call(central, 'GET', `/api/v1/installations/${boat.installationId}/boatlog?limit=1000`);
        assert.equal(rows.status, 200, rows.text);
        const ids = JSON.stringify(rows.json);
        for (const id of ['py-pending-1', 'py-pending-2', 'py-uploading-1']) assert.ok(ids.includes(id), `boatlog row ${id} of an old export is not stored centrally`);
        assert.ok(!ids.includes('py-failed-1'), 'the failed export was sent without being asked to');

        const status = await call(nodeRed, 'GET', '/export/queue/status');
        const completedIds = status.json.items.completed.map((e: any) => e.export_id);
        for (const id of [PENDING, UPLOADING, COMPLETED]) assert.ok(completedIds.includes(id), `${id} is not completed in the queue: ${JSON.stringify(status.json.items)}`);
        // The old export files are left as the old service wrote them.
        const onDisk = readExport(exportFileOf(boat.layout.exportFilesDir, PENDING)).json;
        assert.equal(onDisk.export_id, undefined);
        assert.ok(Array.isArray(onDisk.data.boatlog));
    });

    it("the export history keeps the old service's uploads and adds the new ones after them", async () => {
        const history = await call(nodeRed, 'GET', '/export/history');
        assert.equal(history.status, 200, history.text);
        const uploaded = history.json.history.map((r: any) => r.export_id);
        assert.equal(uploaded[0], COMPLETED, `the old service's upload is not first in ${JSON.stringify(uploaded)}`);
        for (const id of [PENDING, UPLOADING]) assert.ok(uploaded.includes(id), `${id} is not in the history`);
    });

    it('the export the old service gave up on stays failed with its reason (its file was moved to failed_exports/ by that service)', async () => {
        const status = await call(nodeRed, 'GET', '/export/queue/status');
        const failed = status.json.items.failed.find((e: any) => e.export_id === FAILED);
        assert.ok(failed, `the old failed export is gone: ${JSON.stringify(status.json.items.failed)}`);
        assert.match(JSON.stringify(failed), /Name or service not known/);
    });

    it('the backup made by the old shell script is listed, and its restore refused with the reason, nothing on the boat touched', async () => {
        const list = await call(nodeRed, 'GET', '/api/backup/list');
        assert.equal(list.status, 200, list.text);
        const listed = list.json.backups.find((b: any) => b.name === `${OLD_BACKUP}.tar.gz`);
        assert.ok(listed, `the old backup is not listed: ${list.text}`);
        assert.equal(listed.has_checksum, true);

        const restore = await call(nodeRed, 'POST', '/api/backup/restore', { body: JSON.stringify({ name: `${OLD_BACKUP}.tar.gz` }), headers: { 'Content-Type': 'application/json' } });
        assert.ok(restore.status >= 400 && restore.status < 500, `restore answered ${restore.status}: ${restore.text}`);
        assert.equal(restore.json.success, false);
        // The reason names the backup and says nothing was restored (today: an entry at a place this package's
        // backups never write, since the old script put everything under a folder named after the backup).
        assert.match(restore.json.error, new RegExp(`${OLD_BACKUP}`));
        assert.match(restore.json.error, /nothing was restored|not restored|cannot be restored|old/i);
        assert.equal(sha256(boat.layout.license), licenseBefore, 'the refused restore changed license.json');
        assert.ok(fs.existsSync(path.join(boat.backupDir, `${OLD_BACKUP}.tar.gz`)), 'the old backup was removed');
    });
});
