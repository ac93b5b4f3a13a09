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

async function stored(dataDir: string): Promise<Stored> {
    const file = path.join(dataDir, 'ingest.db');
    // Opening it read-write lets SQLite recover the WAL the killed writer left, as the next start would.
    await runSql(file, 'PRAGMA quick_check');
    const [check] = await queryRows<{ integrity_check: string }>(file, 'PRAGMA integrity_check');
    assert.equal(check.integrity_check, 'ok');
    const [counts] = await queryRows<Stored>(
        file,
        'SELECT (SELECT count(*) FROM imported_exports) AS exports, (SELECT count(*) FROM category_rows) AS rows, (SELECT count(*) FROM category_data) AS data',
    );
    return counts;
}

describe('central ingest: a crash mid-import', function () {
    this.timeout(120000);
    let scratch: ReturnType<typeof scratchFolder>;
    before(() => (scratch = scratchFolder('ingest-crash')));
    after(() => scratch.remove());

    it('a central ingest killed at any moment of an import stores all of that export or none of it, and takes it again after', async () => {
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
        for (const fraction of [0.1, 0.5, 1, 1.5, 2, 4]) {
            const dataDir = path.join(scratch.dir, `central-${fraction}`);
            const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(__dirname, 'import-child.ts'), dataDir, exportFile], {
                stdio: ['ignore', 'pipe', 'inherit'],
            });
            let output = '';
            child.stdout.on('data', (chunk) => (output += chunk));
            const exited = new Promise((resolve) => child.once('exit', resolve));
            await new Promise<void>((resolve) => child.stdout.on('data', () => output.includes('importing') && resolve()));
            await new Promise((resolve) => setTimeout(resolve, fraction * importMs));
            child.kill('SIGKILL');
            await exited;

            const after = await stored(dataDir);
            const finished = output.includes('imported');
            outcomes.push(finished ? 'after' : after.exports === 1 ? 'committed' : 'before');
            if (after.exports === 0) {
                assert.deepEqual(after, { exports: 0, rows: 0, data: 0 }, `kill at ${fraction}: nothing half-stored`);
            } else {
                assert.deepEqual(after, whole, `kill at ${fraction}: all of it stored`);
            }
            // The boat sends it again; the restarted ingest stores it, or says it already has it.
            const again = await IngestStore.open(dataDir);
            const answer = await importJson(again, upload.text);
            await again.close();
            assert.equal(answer.already_imported, after.exports === 1);
            assert.deepEqual(await stored(dataDir), whole);
        }
        assert.ok(outcomes.includes('before'), `at least one kill landed before the commit (${outcomes.join(', ')})`);
    });
});
