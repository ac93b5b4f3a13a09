import { promises as fs } from 'fs';
import sqlite3 from 'sqlite3';
import { execFile } from 'child_process';
import { heldDatabases } from '../sqlite/held-files';
import { isSqliteFile } from './snapshot';

/** How long a restore waits for another writer to finish its transaction. */
const WRITER_WAIT_MS = 30_000;
const BUSY = /SQLITE_BUSY|SQLITE_LOCKED|database is (locked|busy)/i;

/**
 * A live database of the boat that a restore replaces without losing a row
 * another service commits around it (the boatlog, telemetry keep theirs
 * open and write whenever they like). In three moves, each under SQLite's
 * own locking, so other writers are serialised with the restore and simply
 * wait (up to their busy timeout):
 *
 * 1. `hold`: a write transaction that writes nothing (BEGIN IMMEDIATE).
 *    Other writers wait from here; readers go on, so the safety backup
 *    takes its snapshot now, with every row committed so far.
 * 2. `lockForCopy`: the hold is handed to SQLite's online backup, which
 *    locks the live file for the copy before copying anything. Between the
 *    two a waiting writer could slip in; the commit mark tells, and then
 *    the caller starts again rather than overwrite that row. (The backup's
 *    connection must run no statement while the backup is open: the
 *    sqlite3 binding crashes the process.)
 * 3. `copy`: every page of the restored database into the live file, in one
 *    transaction, so the service's open connection carries on writing into
 *    the restored database (a rename would leave it writing to a file that
 *    is gone). The live file's journal mode (WAL or rollback) is kept.
 */
export class HeldDatabase {
    private backup: any = null;
    private inTransaction = false;

    private version: number | null = null;
    private real: string | null = null;
    private released = false;

    private constructor(
        private readonly db: sqlite3.Database,
        readonly target: string,
        /** WAL: a second connection that only reads `PRAGMA data_version` (the backup's own connection cannot while it copies). */
        private readonly watcher: sqlite3.Database | null,
    ) {}

    /**
     * Holds `target` for a restore, or answers null when it is not a live
     * database this way can reach (missing, a link, not an SQLite file):
     * such a file is swapped into place like any other.
     */
    static async hold(target: string): Promise<HeldDatabase | null> {
        const stat = await fs.lstat(target).catch(() => null);
        if (!stat || !stat.isFile()) return null;
        if (stat.size > 0 && !(await isSqliteFile(target))) return null;
        const db = await open(target);
        let watcher: sqlite3.Database | null = null;
        let real: string | null = null;
        try {
            db.configure('busyTimeout', WRITER_WAIT_MS);
            await exec(db, 'BEGIN IMMEDIATE');
            const mode = await new Promise<string>((resolve, reject) => db.get('PRAGMA journal_mode', (err, row: any) => (err ? reject(err) : resolve(String(row?.journal_mode).toLowerCase()))));
            if (mode === 'wal') {
                watcher = await open(target, sqlite3.OPEN_READONLY);
                watcher.configure('busyTimeout', WRITER_WAIT_MS);
            }
            const held = new HeldDatabase(db, target, watcher);
            held.inTransaction = true;
            held.real = real = await fs.realpath(target);
            heldDatabases.add(real);
            held.version = await held.commitMark();
            return held;
        } catch (err) {
            if (watcher) await close(watcher);
            await exec(db, 'ROLLBACK').catch(() => undefined);
            await close(db);
            if (real) heldDatabases.delete(real);
            throw err;
        }
    }

    /**
     * What changes when another connection commits: WAL, the watcher's
     * `data_version`; rollback journal, the change counter in the file's
     * header (bytes 24-27), which every commit increments; read by a child
     * process, which the copy's exclusive lock does not stop.
     */
    private async commitMark(): Promise<number> {
        if (this.watcher) return dataVersion(this.watcher);
        return changeCounter(this.target);
    }

    /**
     * Ends the hold and locks the file for the copy of `staged`. Answers
     * false when another connection committed in between: that row is in
     * neither the safety backup nor the restored database, so the caller
     * must not copy.
     */
    async lockForCopy(staged: string): Promise<boolean> {
        await exec(this.db, 'COMMIT');
        this.inTransaction = false;
        this.backup = await new Promise<any>((resolve, reject) => {
            // (filename, sourceName, destName, filenameIsDest): the staged file is the source, the live file the destination.
            const b = (this.db as any).backup(staged, 'main', 'main', false, (err: Error | null) => (err ? reject(err) : resolve(b)));
        });
        // No pages: only the destination's write lock, which the backup keeps until it is done or finished.
        await this.step(0);
        return (await this.commitMark()) === this.version;
    }

    /** Copies every page; the live file then holds the restored database, and waiting writers go on. */
    async copy(): Promise<void> {
        while (!(await this.step(-1)));
        await this.release();
    }

    /** Lets go without copying (a restore that stops), and closes the connection. */
    async release(): Promise<void> {
        if (this.released) return;
        this.released = true;
        if (this.backup) {
            const backup = this.backup;
            this.backup = null;
            await new Promise<void>((resolve) => backup.finish(() => resolve()));
        }
        if (this.inTransaction) {
            this.inTransaction = false;
            await exec(this.db, 'ROLLBACK').catch(() => undefined);
        }
        if (this.watcher) await close(this.watcher);
        await close(this.db);
        if (this.real) heldDatabases.delete(this.real);
    }

    /** One backup step; answers true when the copy is complete. Busy beyond the busy timeout is tried again until WRITER_WAIT_MS. */
    private async step(pages: number): Promise<boolean> {
        const deadline = Date.now() + WRITER_WAIT_MS;
        for (;;) {
            try {
                const done = await new Promise<boolean>((resolve, reject) => this.backup.step(pages, (err: Error | null, finished: boolean) => (err ? reject(err) : resolve(finished))));
                return done || this.backup.completed;
            } catch (err) {
                if (!BUSY.test(String((err as Error)?.message)) || this.backup.failed || Date.now() >= deadline) throw err;
                await new Promise((r) => setTimeout(r, 50));
            }
        }
    }
}

function open(file: string, mode = sqlite3.OPEN_READWRITE): Promise<sqlite3.Database> {
    return new Promise((resolve, reject) => {
        const db: sqlite3.Database = new sqlite3.Database(file, mode, (err) => (err ? reject(err) : resolve(db)));
    });
}

function close(db: sqlite3.Database): Promise<void> {
    return new Promise((resolve) => db.close(() => resolve()));
}

function exec(db: sqlite3.Database, sql: string): Promise<void> {
    return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}

/**
 * The change counter in a rollback-journal database's header, read by a
 * child process: opening and closing the file here would drop this
 * process's locks on it.
 */
function changeCounter(file: string): Promise<number> {
    const script = "const fs=require('fs');const fd=fs.openSync(process.argv[1],'r');const b=Buffer.alloc(4);fs.readSync(fd,b,0,4,24);process.stdout.write(String(b.readUInt32BE(0)))";
    return new Promise((resolve, reject) => execFile(process.execPath, ['-e', script, file], { timeout: WRITER_WAIT_MS }, (err, stdout) => (err ? reject(err) : resolve(Number(stdout)))));
}

/** Changes whenever another connection commits to the database; never for this connection's own writes. */
function dataVersion(db: sqlite3.Database): Promise<number> {
    return new Promise((resolve, reject) => db.get('PRAGMA data_version', (err, row: any) => (err ? reject(err) : resolve(Number(row?.data_version)))));
}
