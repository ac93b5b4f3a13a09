import { promises as fs } from 'fs';
import * as crypto from 'crypto';
import * as path from 'path';
import { CATEGORY_KEYS } from '../categories';
import { Connection } from './database';
import { ENTRY_JSON_SQL, rowKeySql } from './row-keys';
import { ExportHeader, validateUpload } from './validate';

export const DATABASE_FILE = 'ingest.db';

const SCHEMA = `
    CREATE TABLE IF NOT EXISTS imported_exports (
        installation_id TEXT NOT NULL,
        export_id TEXT NOT NULL,
        import_id TEXT NOT NULL UNIQUE,
        mode TEXT,
        tier INTEGER,
        format_version TEXT NOT NULL,
        exported_at TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        records_imported INTEGER NOT NULL,
        body_bytes INTEGER NOT NULL,
        categories TEXT NOT NULL,
        PRIMARY KEY (installation_id, export_id)
    );
    CREATE INDEX IF NOT EXISTS imported_exports_by_id ON imported_exports (export_id);
    CREATE TABLE IF NOT EXISTS category_rows (
        installation_id TEXT NOT NULL,
        category TEXT NOT NULL,
        row_key TEXT NOT NULL,
        entry TEXT NOT NULL,
        export_id TEXT NOT NULL,
        exported_at TEXT NOT NULL,
        PRIMARY KEY (installation_id, category, row_key)
    );
    CREATE TABLE IF NOT EXISTS category_data (
        installation_id TEXT NOT NULL,
        category TEXT NOT NULL,
        data TEXT NOT NULL,
        export_id TEXT NOT NULL,
        exported_at TEXT NOT NULL,
        PRIMARY KEY (installation_id, category)
    );
`;

// synchronous=FULL: a success answer makes the boat advance its watermarks, so a commit must survive a power cut.
const WRITER_SETUP = `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA temp_store = MEMORY;
    ${SCHEMA} CREATE TEMP TABLE IF NOT EXISTS upload (doc TEXT NOT NULL);`;
const READER_SETUP = 'PRAGMA busy_timeout = 10000; PRAGMA query_only = 1;';

const CATEGORY_LIST_SQL = CATEGORY_KEYS.map((key) => `'${key}'`).join(', ');

// An older export arriving late (a retry) never overwrites what a newer one stored.
const STORE_ROWS_SQL = `
    INSERT INTO category_rows (installation_id, category, row_key, entry, export_id, exported_at)
    SELECT ?1, c.key, ${rowKeySql()}, ${ENTRY_JSON_SQL}, ?2, ?3
    FROM temp.upload AS u, json_each(u.doc, '$.data') AS c, json_each(c.value, '$.entries') AS e
    WHERE c.key IN (${CATEGORY_LIST_SQL})
    ON CONFLICT (installation_id, category, row_key) DO UPDATE
    SET entry = excluded.entry, export_id = excluded.export_id, exported_at = excluded.exported_at
    WHERE excluded.exported_at >= category_rows.exported_at`;

const STORE_DATA_SQL = `
    INSERT INTO category_data (installation_id, category, data, export_id, exported_at)
    SELECT ?1, c.key, json_extract(c.value, '$.data'), ?2, ?3
    FROM temp.upload AS u, json_each(u.doc, '$.data') AS c
    WHERE c.key IN (${CATEGORY_LIST_SQL}) AND json_type(c.value, '$.data') = 'object'
    ON CONFLICT (installation_id, category) DO UPDATE
    SET data = excluded.data, export_id = excluded.export_id, exported_at = excluded.exported_at
    WHERE excluded.exported_at >= category_data.exported_at`;

export interface ImportAnswer {
    status: 'success';
    import_id: string;
    export_id: string;
    installation_id: string;
    records_imported: number;
    already_imported: boolean;
}

export interface ImportedExport {
    export_id: string;
    import_id: string;
    installation_id: string;
    mode: string | null;
    tier: number | null;
    format_version: string;
    exported_at: string;
    imported_at: string;
    records_imported: number;
    body_bytes: number;
    categories: Record<string, number>;
}

export interface InstallationSummary {
    installation_id: string;
    export_count: number;
    records_imported: number;
    first_import_at: string;
    last_import_at: string;
    last_export_id: string;
}

export interface CategoryPage {
    total: number;
    entries: unknown[];
    data: Record<string, unknown> | null;
}

/**
 * The central database in a data folder: every export a fleet sent, and the
 * current rows of every category of every installation. One writer: imports
 * run one after another, each in one transaction, so a crash mid-import
 * stores all of that export or none of it. Reads use their own connection
 * and see only committed imports.
 */
export class IngestStore {
    private importing: Promise<unknown> = Promise.resolve();

    private constructor(
        private readonly writer: Connection,
        private readonly reader: Connection,
        readonly file: string,
    ) {}

    static async open(dataDir: string): Promise<IngestStore> {
        await fs.mkdir(dataDir, { recursive: true });
        const file = path.join(dataDir, DATABASE_FILE);
        const writer = await Connection.open(file, WRITER_SETUP);
        const reader = await Connection.open(file, READER_SETUP).catch(async (err) => {
            await writer.close();
            throw err;
        });
        return new IngestStore(writer, reader, file);
    }

    /**
     * Stores the export in `json` (its UTF-8 bytes, or text) unless its export_id was imported
     * before for the same installation. `admit` sees the checked header before
     * anything is stored and throws to refuse it (wrong owner, say).
     */
    importExport(json: Buffer | string, admit: (header: ExportHeader) => void = () => undefined): Promise<ImportAnswer> {
        const run = this.importing.then(() => this.importNow(json, admit));
        this.importing = run.catch(() => undefined);
        return run;
    }

    private async importNow(json: Buffer | string, admit: (header: ExportHeader) => void): Promise<ImportAnswer> {
        const db = this.writer;
        // The body goes to SQLite once, as bytes it reads as text; validation and the inserts all read it there.
        await db.run('INSERT INTO temp.upload (doc) VALUES (CAST(? AS TEXT))', [json]);
        try {
            const header = await validateUpload(db);
            admit(header);
            await db.exec('BEGIN IMMEDIATE');
            try {
                const before = await db.get<{ import_id: string; records_imported: number }>(
                    'SELECT import_id, records_imported FROM imported_exports WHERE installation_id = ? AND export_id = ?',
                    [header.installation_id, header.export_id],
                );
                if (before) {
                    await db.exec('ROLLBACK');
                    return answer(header, before.import_id, before.records_imported, true);
                }
                const importedAt = new Date().toISOString();
                const exportedAt = header.export_timestamp ?? importedAt;
                const importId = `imp_${crypto.randomUUID()}`;
                const params = [header.installation_id, header.export_id, exportedAt];
                await db.run(STORE_ROWS_SQL, params);
                await db.run(STORE_DATA_SQL, params);
                await db.run(
                    `INSERT INTO imported_exports (installation_id, export_id, import_id, mode, tier, format_version, exported_at, imported_at, records_imported, body_bytes, categories)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
                    [
                        header.installation_id,
                        header.export_id,
                        importId,
                        header.mode,
                        header.tier,
                        header.format_version,
                        exportedAt,
                        importedAt,
                        header.records,
                        Buffer.byteLength(json),
                        JSON.stringify(header.categories),
                    ],
                );
                await db.exec('COMMIT');
                return answer(header, importId, header.records, false);
            } catch (err) {
                await db.exec('ROLLBACK').catch(() => undefined);
                throw err;
            }
        } finally {
            await db.run('DELETE FROM temp.upload');
        }
    }

    async installations(): Promise<InstallationSummary[]> {
        return this.reader.all<InstallationSummary>(
            `SELECT installation_id, count(*) AS export_count, sum(records_imported) AS records_imported,
                    min(imported_at) AS first_import_at, max(imported_at) AS last_import_at,
                    (SELECT export_id FROM imported_exports AS l WHERE l.installation_id = e.installation_id ORDER BY imported_at DESC LIMIT 1) AS last_export_id
             FROM imported_exports AS e GROUP BY installation_id ORDER BY installation_id`,
        );
    }

    async counts(): Promise<{ installations: number; exports: number }> {
        const row = await this.reader.get<{ installations: number; exports: number }>(
            'SELECT count(DISTINCT installation_id) AS installations, count(*) AS exports FROM imported_exports',
        );
        return row ?? { installations: 0, exports: 0 };
    }

    async knowsInstallation(installationId: string): Promise<boolean> {
        const row = await this.reader.get('SELECT 1 FROM imported_exports WHERE installation_id = ? LIMIT 1', [installationId]);
        return row !== undefined;
    }

    /** A page of a category's stored rows in the order they first arrived, and its current data object. */
    async categoryRows(installationId: string, category: string, page: { offset: number; limit: number }): Promise<CategoryPage> {
        const where = 'installation_id = ? AND category = ?';
        const [total, rows, data] = await Promise.all([
            this.reader.get<{ n: number }>(`SELECT count(*) AS n FROM category_rows WHERE ${where}`, [installationId, category]),
            this.reader.get<{ entries: string }>(
                `SELECT json_group_array(json(entry)) AS entries FROM (SELECT entry FROM category_rows WHERE ${where} ORDER BY rowid LIMIT ? OFFSET ?)`,
                [installationId, category, page.limit, page.offset],
            ),
            this.reader.get<{ data: string }>(`SELECT data FROM category_data WHERE ${where}`, [installationId, category]),
        ]);
        return { total: total?.n ?? 0, entries: JSON.parse(rows?.entries ?? '[]'), data: data ? JSON.parse(data.data) : null };
    }

    /** What was imported under an export_id (one per installation; ids from two boats may collide). */
    async importedExports(exportId: string): Promise<ImportedExport[]> {
        const rows = await this.reader.all<Omit<ImportedExport, 'categories'> & { categories: string }>(
            'SELECT * FROM imported_exports WHERE export_id = ? ORDER BY imported_at DESC',
            [exportId],
        );
        return rows.map((row) => ({ ...row, categories: JSON.parse(row.categories) }));
    }

    /**
     * Waits for the import under way, then closes the connections one after the other: two closing at once can
     * each find the other still open, and neither folds the WAL back into the database.
     */
    async close(): Promise<void> {
        await this.importing;
        await this.reader.close();
        await this.writer.close();
    }
}

function answer(header: ExportHeader, importId: string, records: number, already: boolean): ImportAnswer {
    return {
        status: 'success',
        import_id: importId,
        export_id: header.export_id,
        installation_id: header.installation_id,
        records_imported: records,
        already_imported: already,
    };
}

const shared = new Map<string, { opening: Promise<IngestStore>; users: number }>();

/**
 * The store of a data folder, shared by every ingest node in this process
 * (one per endpoint in a flow), so the folder keeps one writer. `release`
 * closes it after its last user, once the import under way has finished.
 */
export function useSharedStore(dataDir: string): { opening: Promise<IngestStore>; release: () => Promise<void> } {
    const key = path.resolve(dataDir);
    let entry = shared.get(key);
    if (!entry) {
        entry = { opening: IngestStore.open(key), users: 0 };
        shared.set(key, entry);
        // A folder that failed to open is tried afresh by the next user.
        entry.opening.catch(() => shared.delete(key));
    }
    entry.users += 1;
    const mine = entry;
    let released = false;
    return {
        opening: mine.opening,
        release: async () => {
            if (released) return;
            released = true;
            mine.users -= 1;
            if (mine.users > 0) return;
            if (shared.get(key) === mine) shared.delete(key);
            const store = await mine.opening.catch(() => undefined);
            await store?.close();
        },
    };
}
