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
        } finally {
            await store.close();
        }
        // Opened again, nothing is migrated twice.
        const again = await IngestStore.open(dataDir);
        assert.equal((await readCategory(again, { installation_id: '00000000000000aa', category: 'boatlog' }, FLEET_READER)).total, 3);
        await again.close();
    });
});
