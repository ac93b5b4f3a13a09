import * as path from 'path';
import sqlite3 from 'sqlite3';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { isRegularFile, withinLimit } from '../files/regular-file';
import { isHeldDatabase } from './held-files';
import { noteReadFinished, noteReadRefused, noteReadStuck } from '../files/read-watch';

/** How long one attempt waits on a writer's lock, and how many attempts before giving up. */
export const LOCK_WAIT_MS = 1000;
export const LOCK_ATTEMPTS = 3;
/**
 * How long one statement may run. A batch of 5,000 rows takes well under a
 * second even on a Pi's SD card; a statement that runs this long is reading
 * from a hung drive, or a database that never lets go. It is interrupted and
 * the category carries the error, so the export never waits for ever.
 */
export const QUERY_LIMIT_MS = 30_000;
/**
 * The limit when the caller names none: a backup's `VACUUM INTO` or an
 * integrity check of a large database on a Pi's SD card may rightly take
 * minutes, but not for ever.
 */
export const LONG_QUERY_LIMIT_MS = 15 * 60 * 1000;

/**
 * A boat database opened read-only. Other d3kOS services own these files:
 * we never write to them, and a lock held by their writer is waited out a
 * few times, then reported in words, not as SQLITE_BUSY.
 */
export class ReadOnlyDatabase {
    /** Set once a statement outlived its limit: closing would wait for it, so the handle is left to SQLite. */
    private stuck = false;

    private constructor(
        private readonly db: sqlite3.Database,
        readonly file: string,
        private readonly limitMs: number,
    ) {}

    /**
     * Opens the database, or answers null when the file does not exist (an
     * empty category, not an error). Only a regular file is handed to SQLite:
     * a FIFO or a device in its place would block the open for ever.
     */
    static async open(file: string, options: { limitMs?: number } = {}): Promise<ReadOnlyDatabase | null> {
        const limitMs = options.limitMs ?? LONG_QUERY_LIMIT_MS;
        let exists: boolean;
        try {
            // A database this process holds locked is known to be one, and opening another descriptor of it would drop the hold.
            exists = (await isHeldDatabase(file)) || (await isRegularFile(file, { limitMs: Math.min(limitMs, 10_000) }));
        } catch (err) {
            if (err instanceof BoatDataError) throw err;
            throw new BoatDataError('SOURCE_UNREADABLE', `${path.basename(file)} cannot be read: ${errorMessage(err)}`);
        }
        if (!exists) return null;
        const opening = new Promise<sqlite3.Database>((resolve, reject) => {
            const handle: sqlite3.Database = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => (err ? reject(err) : resolve(handle)));
        });
        const openLimitMs = Math.min(limitMs, QUERY_LIMIT_MS);
        const db = await withinLimit(opening, openLimitMs, () => noteReadStuck(file, opening), `Opening ${path.basename(file)}`).catch((err) => {
            if (errorCode(err) === 'SOURCE_TIMEOUT') noteReadRefused(file, `did not open within ${Math.round(openLimitMs / 1000)} s`);
            throw err instanceof BoatDataError ? err : describeSqliteError(file, err);
        });
        db.configure('busyTimeout', LOCK_WAIT_MS);
        return new ReadOnlyDatabase(db, file, limitMs);
    }

    async all<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
        return this.withLockRetries(
            () =>
                new Promise<T[]>((resolve, reject) => {
                    this.db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[])));
                }),
        );
    }

    async get<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T | undefined> {
        return this.withLockRetries(
            () =>
                new Promise<T | undefined>((resolve, reject) => {
                    this.db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row as T | undefined)));
                }),
        );
    }

    /**
     * A statement prepared once for many runs (a batch query). Each prepare and
     * finalize is another trip through libuv's work queue, and node-sqlite3
     * finalizes on the event loop itself; for a million-row table that is
     * hundreds of trips saved.
     */
    async prepare(sql: string): Promise<PreparedRead> {
        const statement = await this.withLockRetries(
            () =>
                new Promise<sqlite3.Statement>((resolve, reject) => {
                    const prepared: sqlite3.Statement = this.db.prepare(sql, (err) => (err ? reject(err) : resolve(prepared)));
                }),
        );
        return {
            get: <T>(params: unknown[] = []) =>
                this.withLockRetries(() => new Promise<T | undefined>((resolve, reject) => statement.get(params, (err: Error | null, row: T) => (err ? reject(err) : resolve(row))))),
            finalize: () => new Promise<void>((resolve) => statement.finalize(() => resolve())),
        };
    }

    async tableExists(table: string): Promise<boolean> {
        const row = await this.get<{ n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?", [table]);
        return (row?.n ?? 0) > 0;
    }

    /** Column names of a table in their declared order, or [] when the table is missing. */
    async columns(table: string): Promise<string[]> {
        const rows = await this.all<{ name: string }>(`PRAGMA table_info(${quoteIdentifier(table)})`);
        return rows.map((r) => r.name);
    }

    async close(): Promise<void> {
        // A statement still stuck in the kernel would hold the close too: SQLite closes the handle when it returns.
        if (this.stuck) return;
        await new Promise<void>((resolve) => this.db.close(() => resolve()));
    }

    private async withLockRetries<T>(run: () => Promise<T>): Promise<T> {
        for (let attempt = 1; ; attempt++) {
            try {
                const statement = run();
                const result = await withinLimit(statement, this.limitMs, () => this.giveUp(statement), `A read of ${path.basename(this.file)}`);
                noteReadFinished(this.file);
                return result;
            } catch (err) {
                if (errorCode(err) === 'SOURCE_TIMEOUT') throw err;
                if (errorCode(err) === 'SQLITE_BUSY' && attempt < LOCK_ATTEMPTS) continue;
                throw describeSqliteError(this.file, err, attempt);
            }
        }
    }

    /** A statement outlived its limit: interrupt it (enough unless the thread is stuck in the kernel), and say so. */
    private giveUp(statement: Promise<unknown>): void {
        this.stuck = true;
        noteReadRefused(this.file, `did not answer within ${Math.round(this.limitMs / 1000)} s`);
        noteReadStuck(this.file, statement);
        this.db.interrupt();
        // Once the statement does return, the handle can go.
        const close = () => this.db.close(() => undefined);
        statement.then(close, close);
    }
}

/** A prepared statement of a ReadOnlyDatabase: each get is bounded in time like any read. */
export interface PreparedRead {
    get<T = Record<string, unknown>>(params?: unknown[]): Promise<T | undefined>;
    finalize(): Promise<void>;
}

export function quoteIdentifier(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}

/** Turns SQLite's codes into sentences that name the file and what to do. */
export function describeSqliteError(file: string, err: unknown, attempts = 1): BoatDataError {
    const name = path.basename(file);
    const code = errorCode(err);
    const detail = errorMessage(err);
    if (code === 'SQLITE_BUSY' || /database is locked/i.test(detail)) {
        return new BoatDataError('SOURCE_LOCKED', `${name} is locked by another program; retried ${attempts} times`, 503);
    }
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || /malformed|not a database/i.test(detail)) {
        return new BoatDataError('SOURCE_CORRUPT', `${name} is damaged and cannot be read (${detail})`);
    }
    if (code === 'SQLITE_CANTOPEN') {
        return new BoatDataError('SOURCE_UNREADABLE', `${name} could not be opened (${detail})`);
    }
    return new BoatDataError('SOURCE_ERROR', `${name} could not be read: ${detail}`);
}
