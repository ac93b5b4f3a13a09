import { ChildProcess, spawn } from 'child_process';
import sqlite3 from 'sqlite3';

export function queryRows<T = any>(dbFile: string, sql: string, params: unknown[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(dbFile, sqlite3.OPEN_READONLY, (err) => {
            if (err) return reject(err);
            db.all(sql, params, (err2, result) => db.close(() => (err2 ? reject(err2) : resolve(result as T[]))));
        });
    });
}

export function runSql(dbFile: string, sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(dbFile, (err) => {
            if (err) return reject(err);
            db.exec(sql, (err2) => db.close(() => (err2 ? reject(err2) : resolve())));
        });
    });
}

/**
 * Another program holding an exclusive lock on a database, as a boat service
 * in the middle of a long write would. Resolves once the lock is held.
 */
export async function holdExclusiveLock(dbFile: string): Promise<ChildProcess> {
    const script = `
        const sqlite3 = require(${JSON.stringify(require.resolve('sqlite3'))});
        const db = new sqlite3.Database(process.argv[1]);
        db.exec('PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS lock_probe(x);', (err) => {
            if (err) { console.error(err.message); process.exit(1); }
            process.stdout.write('locked\\n');
        });
        setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['-e', script, dbFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk) => String(chunk).includes('locked') && resolve());
        child.once('exit', (code) => reject(new Error(`the lock holder exited with ${code}`)));
    });
    return child;
}

export async function release(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
}
