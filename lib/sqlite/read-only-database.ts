import * as path from 'path';
import { promises as fs } from 'fs';
import sqlite3 from 'sqlite3';
import { BoatDataError, errorCode, errorMessage } from '../errors';

/** How long one attempt waits on a writer's lock, and how many attempts before giving up. */
export const LOCK_WAIT_MS = 1000;
export const LOCK_ATTEMPTS = 3;

/**
 * A boat database opened read-only. Other d3kOS services own these files:
 * we never write to them, and a lock held by their writer is waited out a
 * few times, then reported in words, not as SQLITE_BUSY.
 */
export class ReadOnlyDatabase {
    private constructor(
        private readonly db: sqlite3.Database,
        readonly file: string,
    ) {}

    /** Opens the database, or answers null when the file does not exist (an empty category, not an error). */
    static async open(file: string): Promise<ReadOnlyDatabase | null> {
        try {
            await fs.access(file);
        } catch (err) {
            if (errorCode(err) === 'ENOENT') return null;
            throw new BoatDataError('SOURCE_UNREADABLE', `${path.basename(file)} cannot be read: ${errorMessage(err)}`);
        }
        const db = await new Promise<sqlite3.Database>((resolve, reject) => {
            const handle: sqlite3.Database = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => (err ? reject(err) : resolve(handle)));
        }).catch((err) => {
            throw describeSqliteError(file, err);
        });
        db.configure('busyTimeout', LOCK_WAIT_MS);
        return new ReadOnlyDatabase(db, file);
    }

    async all<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
        return this.withLockRetries(() => new Promise<T[]>((resolve, reject) => {
            this.db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[])));
        }));
    }

    async get<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T | undefined> {
        return this.withLockRetries(() => new Promise<T | undefined>((resolve, reject) => {
            this.db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row as T | undefined)));
        }));
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
        await new Promise<void>((resolve) => this.db.close(() => resolve()));
    }

    private async withLockRetries<T>(run: () => Promise<T>): Promise<T> {
        for (let attempt = 1; ; attempt++) {
            try {
                return await run();
            } catch (err) {
                if (errorCode(err) === 'SQLITE_BUSY' && attempt < LOCK_ATTEMPTS) continue;
                throw describeSqliteError(this.file, err, attempt);
            }
        }
    }
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
