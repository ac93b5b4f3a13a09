import { promises as fs } from 'fs';
import sqlite3 from 'sqlite3';
import { isSqliteFile } from './snapshot';

/** How long a restore waits for another writer to finish its transaction before it gives up on a database. */
const WRITER_WAIT_MS = 30_000;

/**
 * Puts a restored database into place inside the live file, with SQLite's
 * online backup API, instead of renaming a new file over it. A service that
 * keeps the database open (the boatlog, telemetry) then goes on writing to
 * the restored database, not to a file nobody will read again; SQLite's
 * own locking serialises it with the copy, so its transactions land either
 * before the copy (and are in the safety backup) or after it (and stay).
 * The journal mode of the live database (WAL or rollback journal) is kept.
 *
 * Answers false, copying nothing, when the target is not a live database
 * this way can reach (missing, a link, not an SQLite file): the caller
 * then swaps the file into place as for any other file.
 */
export async function copyIntoLiveDatabase(staged: string, target: string): Promise<boolean> {
    const stat = await fs.lstat(target).catch(() => null);
    if (!stat || !stat.isFile()) return false;
    if (stat.size > 0 && !(await isSqliteFile(target))) return false;
    const db = await open(target);
    try {
        db.configure('busyTimeout', WRITER_WAIT_MS);
        await runBackup(db, staged);
    } finally {
        await new Promise<void>((resolve) => db.close(() => resolve()));
    }
    return true;
}

function open(file: string): Promise<sqlite3.Database> {
    return new Promise((resolve, reject) => {
        const db: sqlite3.Database = new sqlite3.Database(file, sqlite3.OPEN_READWRITE, (err) => (err ? reject(err) : resolve(db)));
    });
}

/** Every page of `source` into the connection's main database, in one step (one write transaction on the live file). */
async function runBackup(db: sqlite3.Database, source: string): Promise<void> {
    const backup = await new Promise<any>((resolve, reject) => {
        // (filename, sourceName, destName, filenameIsDest): the file is the source, this connection's main the destination.
        const b = (db as any).backup(source, 'main', 'main', false, (err: Error | null) => (err ? reject(err) : resolve(b)));
    });
    const deadline = Date.now() + WRITER_WAIT_MS;
    try {
        for (;;) {
            try {
                const done = await new Promise<boolean>((resolve, reject) => backup.step(-1, (err: Error | null, finished: boolean) => (err ? reject(err) : resolve(finished))));
                if (done || backup.completed) return;
            } catch (err) {
                // Busy beyond the connection's own wait (a writer holding a transaction open): again, until the deadline.
                if (!BUSY.test(String((err as Error)?.message)) || backup.failed || Date.now() >= deadline) throw err;
                await new Promise((r) => setTimeout(r, 100));
            }
        }
    } finally {
        await new Promise<void>((resolve) => backup.finish(() => resolve()));
    }
}

const BUSY = /SQLITE_BUSY|SQLITE_LOCKED|database is (locked|busy)/i;
