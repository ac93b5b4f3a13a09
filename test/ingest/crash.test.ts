import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as path from 'path';
import { importJson } from '../../lib/ingest/import-export';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { queryRows, runSql } from '../support/sqlite';
import { demoBoatIn, exportUpload } from './uploads';

interface Stored {
    exports: number;
    rows: number;
    data: number;
}

/** What the database holds of one boat (all boats when none is named). */
async function stored(dataDir: string, installationId = '%'): Promise<Stored> {
    const file = path.join(dataDir, 'ingest.db');
    // Opening it read-write lets SQLite recover the WAL the killed writer left, as the next start would.
    await runSql(file, 'PRAGMA quick_check');
    const [check] = await queryRows<{ integrity_check: string }>(file, 'PRAGMA integrity_check');
    assert.equal(check.integrity_check, 'ok');
    const [counts] = await queryRows<Stored & { counted: number }>(
        file,
        `SELECT (SELECT count(*) FROM imported_exports WHERE installation_id LIKE ?1) AS exports, (SELECT count(*) FROM category_rows WHERE installation_id LIKE ?1) AS rows,
                (SELECT count(*) FROM category_data WHERE installation_id LIKE ?1) AS data, (SELECT coalesce(sum(rows), 0) FROM category_counts WHERE installation_id LIKE ?1) AS counted`,
        [installationId],
    );
    // Every committed row is counted once, whatever transaction of the import it came in.
    assert.equal(counts.counted, counts.rows, 'category_counts agrees with the rows stored');
    return { exports: counts.exports, rows: counts.rows, data: counts.data };
}

describe('central ingest: a crash mid-import', function () {
    this.timeout(400000);
    let scratch: ReturnType<typeof scratchFolder>;
    before(() => (scratch = scratchFolder('ingest-crash')));
    after(() => scratch.remove());

    it('a central ingest killed at any moment of an import never marks a part of the export imported, and the resend completes it without duplicates', async () => {
        const boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 40000, telemetryRows: 40000 });
        const upload = await exportUpload(boat);
        const exportFile = path.join(boat.layout.exportFilesDir, `${upload.export_id}.json`);

        // What a whole import stores, and about how long it takes here.
        const referenceDir = path.join(scratch.dir, 'reference');
        const reference = await IngestStore.open(referenceDir);
        const started = Date.now();
        await importJson(reference, upload.text);
        const importMs = Date.now() - started;
        await reference.close();
        const whole = await stored(referenceDir);
        assert.ok(whole.rows > 80000, `the reference import stored ${whole.rows} rows`);

        const outcomes: string[] = [];
        // Alone, and with another boat importing meanwhile (the import then goes in several transactions).
        const runs = [...[0.1, 0.5, 1, 1.5, 2, 4].map((f) => [f, false] as const), ...[0.3, 0.6, 0.9, 1.5].map((f) => [f, true] as const)];
        for (const [fraction, busy] of runs) {
            const dataDir = path.join(scratch.dir, `central-${fraction}-${busy}`);
            const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(__dirname, 'import-child.ts'), dataDir, exportFile, ...(busy ? ['busy'] : [])], {
                stdio: ['ignore', 'pipe', 'inherit'],
            });
            let output = '';
            child.stdout.on('data', (chunk) => (output += chunk));
            const exited = new Promise((resolve) => child.once('exit', resolve));
            await new Promise<void>((resolve) => child.stdout.on('data', () => output.includes('importing') && resolve()));
            await new Promise((resolve) => setTimeout(resolve, fraction * importMs));
            child.kill('SIGKILL');
            await exited;

            const after = await stored(dataDir, upload.json.installation_id);
            await stored(dataDir);
            const finished = output.includes('imported');
            outcomes.push(finished ? 'after' : after.exports === 1 ? 'committed' : after.rows > 0 ? 'part' : 'before');
            if (after.exports === 0) {
                // SQLite writes a large import in several transactions (other boats get in between): part of its rows, never more.
                assert.ok(after.rows <= whole.rows && after.data <= whole.data, `kill at ${fraction}: ${JSON.stringify(after)} is part of ${JSON.stringify(whole)}`);
            } else {
                assert.deepEqual(after, whole, `kill at ${fraction}: all of it stored`);
            }
            // The boat sends it again; the restarted ingest stores it, or says it already has it.
            const again = await IngestStore.open(dataDir);
            const answer = await importJson(again, upload.text);
            await again.close();
            assert.equal(answer.already_imported, after.exports === 1);
            assert.deepEqual(await stored(dataDir, upload.json.installation_id), whole);
            await stored(dataDir);
        }
        assert.ok(outcomes.includes('before') || outcomes.includes('part'), `at least one kill landed before the commit (${outcomes.join(', ')})`);
        assert.ok(outcomes.includes('part'), `at least one kill landed between two transactions of the import (${outcomes.join(', ')})`);
    });
});
