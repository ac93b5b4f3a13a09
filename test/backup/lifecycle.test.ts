import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, listBackups, pruneOldBackups, restoreBackup } from '../../lib/backup';
import { queryRows } from '../support/sqlite';
import { backupTestBoat, BackupTestBoat, integrityOf } from './boat';

/** Another program (a boat service) inserting telemetry rows as fast as it can, one transaction each. */
function startWriter(dbFile: string): Promise<ChildProcess> {
    const script = `
        const sqlite3 = require(${JSON.stringify(require.resolve('sqlite3'))});
        const db = new sqlite3.Database(process.argv[1]);
        db.configure('busyTimeout', 5000);
        let n = 0;
        const insert = () => db.run(
            "INSERT INTO telemetry_events (timestamp, event_type, data) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'writer', ?)",
            [JSON.stringify({ n, pad: 'x'.repeat(400) })],
            (err) => {
                if (err) { console.error(err.message); process.exit(1); }
                if (++n === 50) process.stdout.write('writing\\n');
                setImmediate(insert);
            });
        insert();
    `;
    const child = spawn(process.execPath, ['-e', script, dbFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
        child.stdout!.on('data', (chunk) => String(chunk).includes('writing') && resolve(child));
        child.once('exit', (code) => reject(new Error(`the writer exited with ${code}`)));
    });
}

/**
 * Signal K (another process) keeping a plugin's SQLite database in WAL mode
 * and never checkpointing: every row is in the -wal file, none yet in the
 * database file itself, so only a real snapshot holds them.
 */
function startPluginWriter(dbFile: string): Promise<ChildProcess> {
    const script = `
        const sqlite3 = require(${JSON.stringify(require.resolve('sqlite3'))});
        const db = new sqlite3.Database(process.argv[1]);
        db.configure('busyTimeout', 5000);
        let n = 0;
        const insert = () => db.run('INSERT INTO positions (latitude, longitude) VALUES (?, ?)', [57.7 + n / 1e5, 11.9], (err) => {
            if (err) { console.error(err.message); process.exit(1); }
            if (++n === 50) process.stdout.write('writing\\n');
            setImmediate(insert);
        });
        db.exec('PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE positions (id INTEGER PRIMARY KEY, latitude REAL, longitude REAL)', (err) => {
            if (err) { console.error(err.message); process.exit(1); }
            insert();
        });
    `;
    const child = spawn(process.execPath, ['-e', script, dbFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
        child.stdout!.on('data', (chunk) => String(chunk).includes('writing') && resolve(child));
        child.once('exit', (code) => reject(new Error(`the writer exited with ${code}`)));
    });
}

async function count(dbFile: string): Promise<number> {
    return (await queryRows<{ n: number }>(dbFile, 'SELECT count(*) AS n FROM telemetry_events'))[0].n;
}

describe('backups over time', function () {
    this.timeout(30000);
    let t: BackupTestBoat;

    beforeEach(async () => {
        t = await backupTestBoat('backup-lifecycle');
    });
    afterEach(() => t.scratch.remove());

    it('a backup taken while another process keeps inserting rows holds a consistent database', async () => {
        const dbFile = t.boat.layout.telemetryDb;
        const first = await count(dbFile);
        const writer = await startWriter(dbFile);
        const made: string[] = [];
        try {
            for (let i = 0; i < 3; i++) made.push((await createBackup(t.settings)).backup.path);
        } finally {
            writer.kill('SIGKILL');
            await new Promise((resolve) => writer.once('exit', resolve));
        }
        const last = await count(dbFile);
        let previous = first;
        for (const archive of made) {
            const out = fs.mkdtempSync(path.join(t.scratch.dir, 'unpacked-'));
            execFileSync('tar', ['-xzf', archive, '-C', out, 'data/telemetry/telemetry.db']);
            const snapshot = path.join(out, 'data', 'telemetry', 'telemetry.db');
            assert.equal(await integrityOf(snapshot), 'ok');
            const rows = await count(snapshot);
            assert.ok(rows > previous && rows <= last, `${rows} rows in a snapshot taken between ${previous} and ${last}`);
            previous = rows;
        }
    });

    it('a Signal K plugin database being written during the backup goes in as a snapshot and comes back whole', async () => {
        const dbFile = path.join(t.signalkPluginConfig, 'track-history.sqlite');
        const writer = await startPluginWriter(dbFile);
        let made;
        try {
            made = await createBackup(t.settings);
        } finally {
            writer.kill('SIGKILL');
            await new Promise((resolve) => writer.once('exit', resolve));
        }
        const manifest = JSON.parse(execFileSync('tar', ['-xzOf', made.backup.path, 'manifest.json'], { encoding: 'utf8' }));
        const entry = manifest.files.find((f: any) => f.path === 'signalk/plugin-config-data/track-history.sqlite');
        assert.equal(entry?.kind, 'database', 'the plugin database was copied raw');
        const out = fs.mkdtempSync(path.join(t.scratch.dir, 'unpacked-'));
        execFileSync('tar', ['-xzf', made.backup.path, '-C', out, 'signalk/plugin-config-data/track-history.sqlite']);
        const snapshot = path.join(out, 'signalk', 'plugin-config-data', 'track-history.sqlite');
        assert.equal(await integrityOf(snapshot), 'ok');
        const inSnapshot = (await queryRows<{ n: number }>(snapshot, 'SELECT count(*) AS n FROM positions'))[0].n;
        assert.ok(inSnapshot >= 50, `${inSnapshot} rows in the snapshot; at least 50 were committed before the backup began`);

        // Restored over the database Signal K left behind (with its -wal and -shm): the snapshot's rows, whole.
        assert.ok(fs.existsSync(`${dbFile}-wal`));
        const report = await restoreBackup(t.settings, made.backup.name);
        assert.ok(report.files_changed.includes('signalk/plugin-config-data/track-history.sqlite'));
        assert.ok(!fs.existsSync(`${dbFile}-wal`), 'the old -wal was left beside the restored database');
        assert.equal(await integrityOf(dbFile), 'ok');
        assert.equal((await queryRows<{ n: number }>(dbFile, 'SELECT count(*) AS n FROM positions'))[0].n, inSnapshot);
    });

    it('keeps exactly the newest N backups, each with its checksum file', async () => {
        const keep = 3;
        for (let day = 1; day <= 5; day++) {
            await createBackup({ ...t.settings, keep, now: () => new Date(`2026-11-0${day}T02:00:00Z`) });
        }
        const listed = await listBackups(t.settings);
        assert.deepEqual(
            listed.backups.map((b) => b.name),
            ['d3kos_backup_20261105_020000.tar.gz', 'd3kos_backup_20261104_020000.tar.gz', 'd3kos_backup_20261103_020000.tar.gz'],
        );
        assert.ok(listed.backups.every((b) => b.has_checksum));
        assert.equal(fs.readdirSync(t.boat.backupDir).filter((f) => f.endsWith('.sha256')).length, keep);

        const pruned = await pruneOldBackups(t.settings, 1);
        assert.deepEqual(pruned.removed.sort(), ['d3kos_backup_20261103_020000.tar.gz', 'd3kos_backup_20261104_020000.tar.gz']);
        assert.deepEqual(fs.readdirSync(t.boat.backupDir).sort(), ['d3kos_backup_20261105_020000.tar.gz', 'd3kos_backup_20261105_020000.tar.gz.sha256']);
    });

    it('by default ten backups are kept', async () => {
        for (let n = 0; n < 12; n++) {
            await createBackup({ ...t.settings, now: () => new Date(Date.UTC(2026, 10, 1, 2, 0, n)) });
        }
        assert.equal((await listBackups(t.settings)).count, 10);
    });
});
