import sqlite3 from 'sqlite3';
import { BoatDataError, errorCode, errorMessage } from '../errors';

/**
 * One connection to the central database, promise-shaped. Every statement
 * runs on the sqlite3 driver's worker thread, so Node-RED's event loop only
 * waits for answers.
 */
export class Connection {
    /**
     * The statement under way: one at a time. The driver would start every statement on a thread of libuv's
     * pool (4 threads, shared with gunzip and file I/O), where all but one would only wait for this connection's
     * lock; eight readers could then hold every thread and leave the writer's statements queued behind them.
     */
    private turn: Promise<unknown> = Promise.resolve();

    private constructor(private readonly db: sqlite3.Database) {}

    private inTurn<T>(work: () => Promise<T>): Promise<T> {
        const run = this.turn.then(work, work);
        this.turn = run.catch(() => undefined);
        return run;
    }

    static async open(file: string, setup: string): Promise<Connection> {
        const db = await new Promise<sqlite3.Database>((resolve, reject) => {
            const handle: sqlite3.Database = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(handle)));
        }).catch((err) => {
            throw new BoatDataError('INGEST_DATABASE', `the central database ${file} cannot be opened: ${errorMessage(err)}`, 500);
        });
        const connection = new Connection(db);
        try {
            await connection.exec(setup);
        } catch (err) {
            await connection.close();
            throw err;
        }
        return connection;
    }

    exec(sql: string): Promise<void> {
        return this.inTurn(() => new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(described(err)) : resolve()))));
    }

    run(sql: string, params: unknown[] = []): Promise<{ changes: number }> {
        return this.inTurn(
            () =>
                new Promise((resolve, reject) =>
                    this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
                        if (err) reject(described(err));
                        else resolve({ changes: this.changes });
                    }),
                ),
        );
    }

    get<T>(sql: string, params: unknown[] = []): Promise<T | undefined> {
        return this.inTurn(() => new Promise((resolve, reject) => this.db.get(sql, params, (err, row) => (err ? reject(described(err)) : resolve(row as T | undefined)))));
    }

    all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
        return this.inTurn(() => new Promise((resolve, reject) => this.db.all(sql, params, (err, rows) => (err ? reject(described(err)) : resolve(rows as T[])))));
    }

    /** A statement prepared once and run many times (the row batches of an import). */
    prepare(sql: string): Promise<Prepared> {
        return this.inTurn(
            () =>
                new Promise<Prepared>((resolve, reject) => {
                    const statement: sqlite3.Statement = this.db.prepare(sql, (err) => (err ? reject(described(err)) : resolve(new Prepared(statement, (work) => this.inTurn(work)))));
                }),
        );
    }

    close(): Promise<void> {
        return this.inTurn(() => new Promise<void>((resolve) => this.db.close(() => resolve())));
    }
}

export class Prepared {
    constructor(
        private readonly statement: sqlite3.Statement,
        private readonly inTurn: <T>(work: () => Promise<T>) => Promise<T>,
    ) {}

    all<T>(params: unknown[]): Promise<T[]> {
        return this.inTurn(() => new Promise<T[]>((resolve, reject) => this.statement.all(params, (err, rows) => (err ? reject(described(err)) : resolve(rows as T[])))));
    }

    finalize(): Promise<void> {
        return new Promise((resolve) => this.statement.finalize(() => resolve()));
    }
}

function described(err: Error): Error {
    const code = errorCode(err);
    if (code === 'SQLITE_FULL') return new BoatDataError('INGEST_DISK_FULL', 'the central database disk is full; nothing of this export was stored', 507);
    if (code === 'SQLITE_BUSY') return new BoatDataError('INGEST_BUSY', 'the central database is busy; try again shortly', 503);
    return err;
}
