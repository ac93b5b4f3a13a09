import { promises as fs } from 'fs';
import sqlite3 from 'sqlite3';
import { isHeldDatabase } from '../sqlite/held-files';
import { ReadOnlyDatabase, quoteIdentifier } from '../sqlite/read-only-database';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** True when the file starts like an SQLite database (whatever its name). */
export async function isSqliteFile(file: string): Promise<boolean> {
    if (await isHeldDatabase(file)) return true;
    let handle: fs.FileHandle | undefined;
    try {
        handle = await fs.open(file, 'r');
        const head = Buffer.alloc(100);
        const { bytesRead } = await handle.read(head, 0, 100, 0);
        return bytesRead >= 16 && head.subarray(0, 16).equals(SQLITE_MAGIC);
    } catch {
        return false;
    } finally {
        await handle?.close();
    }
}

/** The files SQLite keeps beside a database; never copied raw, and cleared when a database is restored. */
export const SQLITE_SIDE_FILES = ['-wal', '-shm', '-journal'];

/**
 * A consistent copy of a database its owner keeps writing to: `VACUUM INTO`
 * reads inside one transaction, so the copy holds exactly the committed rows
 * of one instant (WAL contents included) while the writer carries on. The
 * copy keeps the source's journal mode, so a restored database behaves as
 * the original did.
 */
export async function snapshotDatabase(source: string, target: string): Promise<void> {
    const db = await ReadOnlyDatabase.open(source);
    if (!db) throw Object.assign(new Error(`${source} disappeared before it could be copied`), { code: 'ENOENT' });
    let wal = false;
    try {
        const mode = await db.get<{ journal_mode: string }>('PRAGMA journal_mode');
        wal = mode?.journal_mode?.toLowerCase() === 'wal';
        await db.all('VACUUM INTO ?', [target]);
    } finally {
        await db.close();
    }
    if (wal) await execOn(target, 'PRAGMA journal_mode = WAL');
}

/** Text values in every ordinary table: `from` replaced by `to`, old contents wiped from free pages. */
export async function replaceInDatabase(file: string, pairs: Array<[string, string]>): Promise<number> {
    if (pairs.length === 0) return 0;
    const db = await openWritable(file);
    let changed = 0;
    try {
        await exec(db, 'PRAGMA secure_delete = ON');
        const tables = await all<{ name: string }>(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'");
        await exec(db, 'BEGIN');
        for (const { name } of tables) {
            const columns = await all<{ name: string }>(db, `PRAGMA table_info(${quoteIdentifier(name)})`);
            for (const column of columns) {
                const col = quoteIdentifier(column.name);
                for (const [from, to] of pairs) {
                    changed += await runChanges(db, `UPDATE ${quoteIdentifier(name)} SET ${col} = replace(${col}, ?, ?) WHERE typeof(${col}) = 'text' AND instr(${col}, ?) > 0`, [from, to, from]);
                }
            }
        }
        await exec(db, 'COMMIT');
        if (changed > 0) await exec(db, 'VACUUM');
    } catch (err) {
        await exec(db, 'ROLLBACK').catch(() => undefined);
        throw err;
    } finally {
        await new Promise<void>((resolve) => db.close(() => resolve()));
    }
    return changed;
}

/**
 * The rows of each ordinary table, as a backup records them in its manifest
 * and a restore drill counts them again in what came out of the archive.
 */
export async function tableRowCounts(file: string): Promise<Record<string, number>> {
    const db = await ReadOnlyDatabase.open(file);
    if (!db) throw Object.assign(new Error(`${file} is missing`), { code: 'ENOENT' });
    try {
        const tables = await db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name");
        const counts: Record<string, number> = {};
        for (const { name } of tables) counts[name] = (await db.get<{ n: number }>(`SELECT count(*) AS n FROM ${quoteIdentifier(name)}`))?.n ?? 0;
        return counts;
    } finally {
        await db.close();
    }
}

/** `PRAGMA integrity_check` in words: 'ok' or what SQLite found. */
export async function integrityCheck(file: string): Promise<string> {
    const db = await ReadOnlyDatabase.open(file);
    if (!db) return 'missing';
    try {
        const rows = await db.all<{ integrity_check: string }>('PRAGMA integrity_check');
        return rows.map((r) => r.integrity_check).join('; ');
    } finally {
        await db.close();
    }
}

function openWritable(file: string): Promise<sqlite3.Database> {
    return new Promise((resolve, reject) => {
        const db: sqlite3.Database = new sqlite3.Database(file, sqlite3.OPEN_READWRITE, (err) => (err ? reject(err) : resolve(db)));
    });
}

async function execOn(file: string, sql: string): Promise<void> {
    const db = await openWritable(file);
    try {
        await exec(db, sql);
    } finally {
        await new Promise<void>((resolve) => db.close(() => resolve()));
    }
}

function exec(db: sqlite3.Database, sql: string): Promise<void> {
    return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}

function all<T>(db: sqlite3.Database, sql: string, params: unknown[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
}

function runChanges(db: sqlite3.Database, sql: string, params: unknown[]): Promise<number> {
    return new Promise((resolve, reject) =>
        db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
            if (err) reject(err);
            else resolve(this.changes);
        }),
    );
}
