import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { HeldDatabase } from '../../lib/backup/live-database';
import { isSqliteFile } from '../../lib/backup/snapshot';
import { scratchFolder } from '../support/folders';

/** An INSERT by another process that gives up at once when the database is locked: true when it went in. */
function otherProcessInserts(db: string, value: string): boolean {
    try {
        execFileSync('sqlite3', [db, `INSERT INTO t VALUES ('${value}');`], { stdio: 'pipe' });
        return true;
    } catch (err) {
        assert.match(String((err as { stderr?: Buffer }).stderr), /database is locked/);
        return false;
    }
}

const rows = (db: string) => execFileSync('sqlite3', [db, 'SELECT x FROM t ORDER BY rowid;'], { encoding: 'utf8' }).trim().split('\n');

for (const mode of ['wal', 'delete'] as const) {
    describe(`a live database held for a restore (journal mode ${mode})`, () => {
        let scratch: ReturnType<typeof scratchFolder>;
        let live: string;
        let staged: string;
        beforeEach(() => {
            scratch = scratchFolder('held-database');
            live = path.join(scratch.dir, 'live.db');
            staged = path.join(scratch.dir, 'staged.db');
            execFileSync('sqlite3', [live, `PRAGMA journal_mode = ${mode}; CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('live');`]);
            execFileSync('sqlite3', [staged, "CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('restored');"]);
        });
        afterEach(() => scratch.remove());

        it('keeps other writers out from the hold to the end of the copy, even while this process reads the file as the safety backup does', async () => {
            const held = await HeldDatabase.hold(live);
            assert.ok(held);
            try {
                // The safety backup opens every file to look at its header: that must not drop SQLite's locks.
                assert.equal(await isSqliteFile(live), true);
                assert.equal(otherProcessInserts(live, 'during the hold'), false, 'a writer got in during the hold');
                assert.deepEqual(rows(live), ['live'], 'readers (the safety backup) still see the database');
                assert.equal(await held.lockForCopy(staged), true, 'no other commit was seen');
                assert.equal(otherProcessInserts(live, 'during the copy'), false, 'a writer got in before the copy');
                await held.copy();
            } finally {
                await held.release();
            }
            assert.equal(otherProcessInserts(live, 'after'), true);
            assert.deepEqual(rows(live), ['restored', 'after']);
            assert.equal(execFileSync('sqlite3', [live, 'PRAGMA journal_mode;'], { encoding: 'utf8' }).trim(), mode);
        });

        it('is not held when it is not a database: such a file is swapped like any other', async () => {
            fs.writeFileSync(path.join(scratch.dir, 'notes.db'), 'not sqlite at all');
            assert.equal(await HeldDatabase.hold(path.join(scratch.dir, 'notes.db')), null);
            assert.equal(await HeldDatabase.hold(path.join(scratch.dir, 'missing.db')), null);
        });
    });
}
