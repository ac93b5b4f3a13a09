import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import sqlite3 from 'sqlite3';
import { FLEET_READER } from '../../lib/ingest/access';
import { listInstallations, readCategory, receiveUpload } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { smallExport } from './uploads';
import { queryRows } from '../support/sqlite';
import { forEachStore } from './stores';
import { migrate } from '../../lib/ingest/postgres-store';
import { openStore } from '../../lib/ingest/store';
import { Pool } from 'pg';

// An ingest.db written by the ingest before the store was versioned (its tables, its row keys, no
// schema_versions) is brought up to date in place when the new ingest opens it.

const LEGACY_SCHEMA = `
    CREATE TABLE imported_exports (installation_id TEXT NOT NULL, export_id TEXT NOT NULL, import_id TEXT NOT NULL UNIQUE, mode TEXT, tier INTEGER,
        format_version TEXT NOT NULL, exported_at TEXT NOT NULL, imported_at TEXT NOT NULL, records_imported INTEGER NOT NULL, body_bytes INTEGER NOT NULL,
        categories TEXT NOT NULL, PRIMARY KEY (installation_id, export_id));
    CREATE TABLE category_rows (installation_id TEXT NOT NULL, category TEXT NOT NULL, row_key TEXT NOT NULL, entry TEXT NOT NULL,
        export_id TEXT NOT NULL, exported_at TEXT NOT NULL, PRIMARY KEY (installation_id, category, row_key));
    CREATE TABLE category_data (installation_id TEXT NOT NULL, category TEXT NOT NULL, data TEXT NOT NULL, export_id TEXT NOT NULL,
        exported_at TEXT NOT NULL, PRIMARY KEY (installation_id, category));
    INSERT INTO imported_exports VALUES ('00000000000000aa', 'export_old', 'imp_old', 'full', 2, '1.0', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', 3, 100, '{"boatlog":2}');
    INSERT INTO category_rows VALUES ('00000000000000aa', 'boatlog', '1', '{"entry_id":1,"note":"old one"}', 'export_old', '2025-01-01T00:00:00.000Z');
    INSERT INTO category_rows VALUES ('00000000000000aa', 'boatlog', '2', '{"entry_id":2,"note":"old two"}', 'export_old', '2025-01-01T00:00:00.000Z');
    INSERT INTO category_rows VALUES ('00000000000000aa', 'telemetry', '1', '{"id":1,"event_type":"engine","data":"{\\"rpm\\":1800}"}', 'export_old', '2025-01-01T00:00:00.000Z');
    INSERT INTO category_data VALUES ('00000000000000aa', 'settings', '{"units":"imperial"}', 'export_old', '2025-01-01T00:00:00.000Z');`;

describe('central ingest: a database from before versioned migrations', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    before(() => (scratch = scratchFolder('ingest-migration')));
    after(() => scratch.remove());

    it('keeps its imports and rows, counts them, and takes new exports of the same rows as the same rows', async () => {
        const dataDir = path.join(scratch.dir, 'central');
        fs.mkdirSync(dataDir);
        await new Promise<void>((resolve, reject) => {
            const db = new sqlite3.Database(path.join(dataDir, 'ingest.db'), (err) => (err ? reject(err) : db.exec(LEGACY_SCHEMA, (e) => db.close(() => (e ? reject(e) : resolve())))));
        });
        const store = await IngestStore.open(dataDir);
        try {
            const listed = await listInstallations(store, FLEET_READER);
            assert.deepEqual(
                listed.installations.map((i) => [i.installation_id, i.export_count, i.records_imported, i.last_export_id]),
                [['00000000000000aa', 1, 3, 'export_old']],
            );
            const before = await readCategory(store, { installation_id: '00000000000000aa', category: 'boatlog' }, FLEET_READER);
            assert.deepEqual([before.total, before.entries.map((e: any) => e.note)], [2, ['old one', 'old two']]);

            // A newer export holding rows 1 to 3: rows 1 and 2 are updated in place, row 3 is new.
            const text = smallExport('00000000000000aa', 'export_new', 3, 40, '2026-01-01T00:00:00.000Z');
            await receiveUpload(store, { dataDir, mode: 'open', maxBodyBytes: 1 << 20 }, { headers: { authorization: 'Bearer 00000000000000aa' }, body: zlib.gzipSync(text) });
            const after = await readCategory(store, { installation_id: '00000000000000aa', category: 'boatlog' }, FLEET_READER);
            assert.deepEqual(
                after.entries.map((e: any) => e.entry_id),
                [1, 2, 3],
            );
            assert.equal(after.total, 3);
            assert.notEqual(after.entries[0].note, 'old one');
            assert.equal((await listInstallations(store, FLEET_READER)).installations[0].export_count, 2);
            // Telemetry's data, JSON text inside the row, is stored as JSON, and the telemetry view reads its channels.
            const telemetry = await readCategory(store, { installation_id: '00000000000000aa', category: 'telemetry' }, FLEET_READER);
            assert.deepEqual(telemetry.entries, [{ id: 1, event_type: 'engine', data: { rpm: 1800 } }]);
            assert.deepEqual(await queryRows(path.join(dataDir, 'ingest.db'), 'SELECT installation_id, event_id, rpm FROM telemetry'), [
                { installation_id: '00000000000000aa', event_id: '1', rpm: 1800 },
            ]);
        } finally {
            await store.close();
        }
        // Opened again, nothing is migrated twice.
        const again = await IngestStore.open(dataDir);
        assert.equal((await readCategory(again, { installation_id: '00000000000000aa', category: 'boatlog' }, FLEET_READER)).total, 3);
        await again.close();
    });
});

// A PostgreSQL database as the release before the queryable schema left it: migration 1 only (the code of
// then, unchanged), its rows written as that release wrote them (text entries, ISO text times, telemetry's
// data as JSON text in the row). The new ingest migrates it in place and keeps every row.
const OLD_ROWS = `
    INSERT INTO imported_exports VALUES ('00000000000000bb', 'export_old', 'imp_old', 'full', 2, '1.0', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', 4, 100, '{"boatlog":2,"telemetry":1}');
    INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at) VALUES
        ('00000000000000bb', 'boatlog', '1', '{"entry_id":1,"timestamp":"2025-01-01T00:00:00Z","content":"old one","latitude":57.7}', 80, 'export_old', '2025-01-01T00:00:00.000Z'),
        ('00000000000000bb', 'boatlog', '2', '{"entry_id":2,"timestamp":"2025-01-01T00:01:00Z","content":"old two"}', 70, 'export_old', '2025-01-01T00:00:00.000Z'),
        ('00000000000000bb', 'telemetry', '1', '{"id":1,"timestamp":"2025-01-01T00:00:00Z","event_type":"engine","data":"{\\"rpm\\":1800,\\"coolant_c\\":82}"}', 90, 'export_old', '2025-01-01T00:00:00.000Z');
    INSERT INTO category_data VALUES ('00000000000000bb', 'settings', '{"units":"imperial"}', 'export_old', '2025-01-01T00:00:00.000Z');
    INSERT INTO installations VALUES ('00000000000000bb', 1, 4, '2025-01-01T00:00:01.000Z', '2025-01-01T00:00:01.000Z', 'export_old');
    INSERT INTO category_counts VALUES ('00000000000000bb', 'boatlog', 2), ('00000000000000bb', 'telemetry', 1);
    INSERT INTO failed_imports VALUES ('00000000000000bb', 'export_bad', '2025-01-02T00:00:00.000Z', 400, 'not JSON', 2);`;

forEachStore('central ingest: a PostgreSQL database made before the queryable schema', (kind) => {
    if (kind.name === 'SQLite') return;
    let scratch: ReturnType<typeof scratchFolder>;
    before(() => (scratch = scratchFolder('ingest-pg-migration')));
    after(() => scratch.remove());

    it('is migrated in place: rows kept as jsonb, times as timestamptz, telemetry data as JSON, and it takes new exports', async () => {
        const database = await kind.freshDatabase();
        const pool = new Pool({ connectionString: database });
        try {
            await migrate(pool, 1);
            await pool.query(OLD_ROWS);
        } finally {
            await pool.end();
        }
        const dataDir = path.join(scratch.dir, 'central');
        const store = await openStore(dataDir, database);
        try {
            const listed = await listInstallations(store, FLEET_READER);
            assert.deepEqual(listed.installations, [
                {
                    installation_id: '00000000000000bb',
                    export_count: 1,
                    records_imported: 4,
                    first_import_at: '2025-01-01T00:00:01.000Z',
                    last_import_at: '2025-01-01T00:00:01.000Z',
                    last_export_id: 'export_old',
                },
            ]);
            const boatlog = await readCategory(store, { installation_id: '00000000000000bb', category: 'boatlog' }, FLEET_READER);
            assert.deepEqual([boatlog.total, boatlog.entries.map((e: any) => e.content)], [2, ['old one', 'old two']]);
            const telemetry = await readCategory(store, { installation_id: '00000000000000bb', category: 'telemetry' }, FLEET_READER);
            assert.deepEqual(telemetry.entries[0].data, { rpm: 1800, coolant_c: 82 });
            assert.deepEqual(telemetry.data, null);

            const check = new Pool({ connectionString: database });
            try {
                const { rows: types } = await check.query(
                    "SELECT table_name || '.' || column_name AS col, data_type FROM information_schema.columns WHERE table_schema = 'public' AND column_name IN ('entry', 'exported_at', 'imported_at', 'last_import_at', 'failed_at', 'data', 'categories') AND table_name IN ('category_rows', 'imported_exports', 'installations', 'failed_imports', 'category_data') ORDER BY 1",
                );
                assert.deepEqual(
                    types.map((r) => `${r.col} ${r.data_type}`),
                    [
                        'category_data.data jsonb',
                        'category_data.exported_at timestamp with time zone',
                        'category_rows.entry jsonb',
                        'category_rows.exported_at timestamp with time zone',
                        'failed_imports.failed_at timestamp with time zone',
                        'imported_exports.categories jsonb',
                        'imported_exports.exported_at timestamp with time zone',
                        'imported_exports.imported_at timestamp with time zone',
                        'installations.last_import_at timestamp with time zone',
                    ],
                );
                const { rows: engine } = await check.query('SELECT event_time, rpm, coolant_c FROM telemetry');
                assert.deepEqual(engine, [{ event_time: new Date('2025-01-01T00:00:00Z'), rpm: 1800, coolant_c: 82 }]);
                const { rows: log } = await check.query('SELECT entry_id, latitude FROM boatlog ORDER BY entry_time');
                assert.deepEqual(log, [
                    { entry_id: '1', latitude: 57.7 },
                    { entry_id: '2', latitude: null },
                ]);
                const { rows: failed } = await check.query('SELECT failed_at, attempts FROM failed_imports');
                assert.deepEqual(failed, [{ failed_at: new Date('2025-01-02T00:00:00Z'), attempts: 2 }]);
            } finally {
                await check.end();
            }

            // A newer export of rows 1 to 3: 1 and 2 are updated in place, 3 is new.
            const text = smallExport('00000000000000bb', 'export_new', 3, 40, '2026-01-01T00:00:00.000Z');
            await receiveUpload(store, { dataDir, mode: 'open', maxBodyBytes: 1 << 20 }, { headers: { authorization: 'Bearer 00000000000000bb' }, body: zlib.gzipSync(text) });
            const after = await readCategory(store, { installation_id: '00000000000000bb', category: 'boatlog' }, FLEET_READER);
            assert.deepEqual(
                after.entries.map((e: any) => e.entry_id),
                [1, 2, 3],
            );
            assert.equal((await listInstallations(store, FLEET_READER)).installations[0].export_count, 2);
        } finally {
            await store.close();
        }
    });
});
