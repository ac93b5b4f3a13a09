import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import sqlite3 from 'sqlite3';
import { createBackup } from '../../lib/backup';
import { finishInterruptedRestore } from '../../lib/backup/interrupted';
import type { RestoreStep } from '../../lib/backup/restore';
import { backupTestBoat, BackupTestBoat, databaseContents, databasesOf, treeDigest } from './boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { call, startBoat } from '../e2e/harness';

/**
 * Everything a restore may change, file by file: the sha256 of each plain
 * file of the data root, the flows and Signal K files, and the rows of each
 * database (its bytes differ after SQLite's copy, its rows must not). The
 * backup folder, the keys and the export marks (reset by every restore) are
 * not the boat's state.
 */
async function boatState(t: BackupTestBoat): Promise<Map<string, string>> {
    const skip = (r: string) => /^(backups|keys|data\/exports)(\/|$)/.test(r) || r.startsWith('.d3kos-restore') || /-(wal|shm|journal)$/.test(r);
    const state = treeDigest(t.boat.root, skip);
    const databases = new Set(databasesOf(t.boat.root));
    for (const db of databases) state.set(db, JSON.stringify(await databaseContents(path.join(t.boat.root, db))));
    for (const [label, dir] of [
        ['flows', path.dirname(t.flowsFile)],
        ['signalk', path.dirname(t.signalkSettings)],
    ])
        for (const [file, sha] of treeDigest(dir)) state.set(`${label}:${file}`, sha);
    return state;
}

function exec(file: string, sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(file, (err) => {
            if (err) return reject(err);
            db.exec(sql, (e) => db.close(() => (e ? reject(e) : resolve())));
        });
    });
}

/** A restore in a child process, killed with SIGKILL at the step named. */
async function restoreKilledAt(t: BackupTestBoat, name: string, step: RestoreStep, detail?: string): Promise<void> {
    const marker = path.join(t.scratch.dir, `marker-${Date.now()}`);
    const child: ChildProcess = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'restore-child.ts'), JSON.stringify({ settings: t.settings, name, step, detail, marker })], {
        stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const deadline = Date.now() + 90000;
    while (!fs.existsSync(marker)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the restore never reached ${step}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(fs.readFileSync(marker, 'utf8'), step, stderr);
    child.kill('SIGKILL');
    await exited;
}

describe('a restore killed at any point leaves, after the next start, a boat that is wholly the backup or wholly as it was', function () {
    this.timeout(180000);
    let t: BackupTestBoat;
    let backupState: Map<string, string>;
    let liveState: Map<string, string>;
    let name: string;

    beforeEach(async () => {
        t = await backupTestBoat('interrupted-restore');
        name = (await createBackup(t.settings)).backup.name;
        backupState = await boatState(t);
        // The boat moves on: a changed setting, rows in the boatlog, other flows.
        fs.writeFileSync(path.join(t.boat.root, 'config', 'onboarding.json'), JSON.stringify({ complete: true, boat_name: 'Moved On' }));
        await exec(path.join(t.boat.root, 'data', 'boatlog', 'boatlog.db'), 'CREATE TABLE after_the_backup (x); INSERT INTO after_the_backup VALUES (1), (2);');
        fs.writeFileSync(t.flowsFile, JSON.stringify([{ id: 'tab2', type: 'tab', label: 'Changed' }]));
        liveState = await boatState(t);
        assert.notDeepEqual(liveState, backupState);
    });
    afterEach(() => t.scratch.remove());

    const stagingLeft = () => [
        ...fs.readdirSync(t.boat.root).filter((n) => n.startsWith('.d3kos-restore')),
        ...(fs.existsSync(path.join(t.boat.root, 'keys')) ? fs.readdirSync(path.join(t.boat.root, 'keys')).filter((n) => n.startsWith('.staging-')) : []),
    ];

    it('killed while staging, before the safety backup: rolled back, the boat as it was', async () => {
        await restoreKilledAt(t, name, 'staged');
        const settled = await finishInterruptedRestore(t.settings);
        assert.equal(settled?.outcome, 'rolled_back');
        assert.match(settled!.problem, /^an interrupted restore was rolled back from the safety backup/);
        assert.deepEqual(await boatState(t), liveState);
        assert.deepEqual(stagingLeft(), []);
    });

    for (const [label, step, detail] of [
        ['after the safety backup, before the first file', 'swapping', undefined],
        ['mid-swap, just after boatlog.db', 'placed', 'data/boatlog/boatlog.db'],
        ['mid-swap, just after the flows file', 'placed', 'node-red/flows.json'],
        ['after the swap, before the cleanup', 'swapped', undefined],
    ] as Array<[string, RestoreStep, string | undefined]>) {
        it(`killed ${label}: completed from its staging, the boat wholly the backup`, async () => {
            await restoreKilledAt(t, name, step, detail);
            const settled = await finishInterruptedRestore(t.settings);
            assert.equal(settled?.outcome, 'completed');
            assert.match(settled!.problem, /^an interrupted restore was completed from its staging/);
            assert.deepEqual(await boatState(t), backupState);
            assert.deepEqual(stagingLeft(), []);
            assert.equal(await finishInterruptedRestore(t.settings), null, 'the journal was left for another start');
        });
    }

    it('killed mid-swap with its staging lost: rolled back from the safety backup, the boat as it was', async () => {
        await restoreKilledAt(t, name, 'placed', 'data/boatlog/boatlog.db');
        for (const dir of fs.readdirSync(t.boat.root).filter((n) => /^\.d3kos-restore-\d/.test(n))) fs.rmSync(path.join(t.boat.root, dir), { recursive: true });
        const settled = await finishInterruptedRestore(t.settings);
        assert.equal(settled?.outcome, 'rolled_back');
        assert.match(settled!.problem, /^an interrupted restore was rolled back from the safety backup: .*_pre-restore\.tar\.gz was put back/);
        assert.deepEqual(await boatState(t), liveState);
        assert.deepEqual(stagingLeft(), []);
    });

    it("the boat's Node-RED, started after the kill, completes it, logs it and /health tells the owner", async () => {
        await restoreKilledAt(t, name, 'placed', 'data/boatlog/boatlog.db');
        let nodeRed: RunningNodeRed | undefined;
        try {
            nodeRed = await startBoat(t.scratch.dir, t.boat, {
                centralUrl: 'http://127.0.0.1:9',
                tweak: (flow) =>
                    flow.splice(
                        0,
                        flow.length,
                        ...flow.filter((n) => ['d3kos-data-tab', 'd3kos-backup-tab'].includes(n.id) || ['d3kos-data-tab', 'd3kos-backup-tab'].includes(n.z) || n.type === 'd3kos-config'),
                    ),
            });
            const told = /^an interrupted restore was completed from its staging: d3kos_backup_\S+ is wholly restored/;
            let health = await call(nodeRed, 'GET', '/health');
            for (const until = Date.now() + 60000; !(health.json.problems ?? []).some((p: string) => told.test(p)) && Date.now() < until;) {
                await new Promise((r) => setTimeout(r, 250));
                health = await call(nodeRed, 'GET', '/health');
            }
            assert.ok(
                health.json.problems.some((p: string) => told.test(p)),
                health.text,
            );
            assert.match(nodeRed.log(), /an interrupted restore was completed from its staging/);
        } finally {
            await nodeRed?.stop();
        }
        // Every file the backup holds is as in the backup (the running data tab writes its own export schedule beside them).
        const after = await boatState(t);
        for (const [file, digest] of backupState) assert.equal(after.get(file), digest, file);
        assert.deepEqual(stagingLeft(), []);
    });

    it('plaintext staging folders a kill left (restore and encrypted backup) are removed at start', async () => {
        fs.mkdirSync(path.join(t.boat.root, '.d3kos-restore-1-abc', 'f000001'), { recursive: true });
        fs.writeFileSync(path.join(t.boat.root, '.d3kos-restore-1-abc', 'f000001', 'api-keys.env'), 'WEATHER_API_KEY=secret');
        fs.mkdirSync(path.join(t.boat.root, 'keys', '.staging-d3kos_backup_20261207_000000'), { recursive: true });
        fs.writeFileSync(path.join(t.boat.root, 'keys', '.staging-d3kos_backup_20261207_000000', 'cloud-credentials.json'), '{"token":"secret"}');
        assert.equal(await finishInterruptedRestore(t.settings), null);
        assert.deepEqual(stagingLeft(), []);
    });
});
