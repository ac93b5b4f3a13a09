import { promises as fs } from 'fs';
import * as path from 'path';
import { Connection, Prepared } from './database';
import {
    CategoryPage,
    cutByBytes,
    DATABASE_FILE,
    FailedImport,
    FleetHealth,
    ImportedExport,
    ImportRecord,
    ImportSession,
    IngestStore,
    InstallationSummary,
    PageRequest,
    PriorImport,
    StoredRow,
    importedExportValues,
} from './store';
import type { ExportIdentity } from './validate';
import type { Backlog } from '../fleet/backlog';
import { BoatContact, boatContact, FleetBoatsPage, FleetBoatsQuery, FleetCursor, fleetBoatRow, prefixRange } from '../fleet/fleet-store';

/** Versioned changes to the file, applied in order at start, each in its own transaction. */
const MIGRATIONS: Array<{ version: number; sql: string }> = [
    {
        // The tables as the first ingest made them (a file from then has them already).
        version: 1,
        sql: `
        CREATE TABLE IF NOT EXISTS imported_exports (
            installation_id TEXT NOT NULL, export_id TEXT NOT NULL, import_id TEXT NOT NULL UNIQUE, mode TEXT, tier INTEGER,
            format_version TEXT NOT NULL, exported_at TEXT NOT NULL, imported_at TEXT NOT NULL, records_imported INTEGER NOT NULL,
            body_bytes INTEGER NOT NULL, categories TEXT NOT NULL, PRIMARY KEY (installation_id, export_id));
        CREATE INDEX IF NOT EXISTS imported_exports_by_id ON imported_exports (export_id);
        CREATE TABLE IF NOT EXISTS category_rows (
            installation_id TEXT NOT NULL, category TEXT NOT NULL, row_key TEXT NOT NULL, entry TEXT NOT NULL,
            export_id TEXT NOT NULL, exported_at TEXT NOT NULL, PRIMARY KEY (installation_id, category, row_key));
        CREATE TABLE IF NOT EXISTS category_data (
            installation_id TEXT NOT NULL, category TEXT NOT NULL, data TEXT NOT NULL, export_id TEXT NOT NULL,
            exported_at TEXT NOT NULL, PRIMARY KEY (installation_id, category));`,
    },
    {
        // Rows know their size (reads page by bytes), pages go by arrival (rowid) without sorting,
        // and the fleet's figures are kept as imports commit instead of counted on every read.
        version: 2,
        sql: `
        ALTER TABLE category_rows ADD COLUMN entry_bytes INTEGER NOT NULL DEFAULT 0;
        UPDATE category_rows SET entry_bytes = length(CAST(entry AS BLOB));
        CREATE INDEX category_rows_by_arrival ON category_rows (installation_id, category);
        CREATE TABLE installations (
            installation_id TEXT PRIMARY KEY, export_count INTEGER NOT NULL, records_imported INTEGER NOT NULL,
            first_import_at TEXT NOT NULL, last_import_at TEXT NOT NULL, last_export_id TEXT NOT NULL);
        INSERT INTO installations
            SELECT installation_id, count(*), sum(records_imported), min(imported_at), max(imported_at),
                   (SELECT export_id FROM imported_exports AS l WHERE l.installation_id = e.installation_id ORDER BY imported_at DESC LIMIT 1)
            FROM imported_exports AS e GROUP BY installation_id;
        CREATE INDEX installations_by_last_import ON installations (last_import_at);
        CREATE TABLE category_counts (
            installation_id TEXT NOT NULL, category TEXT NOT NULL, rows INTEGER NOT NULL, PRIMARY KEY (installation_id, category));
        INSERT INTO category_counts SELECT installation_id, category, count(*) FROM category_rows GROUP BY installation_id, category;
        CREATE TABLE failed_imports (
            installation_id TEXT NOT NULL, export_id TEXT NOT NULL, failed_at TEXT NOT NULL, status INTEGER NOT NULL,
            error TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (installation_id, export_id));
        CREATE INDEX failed_imports_by_time ON failed_imports (failed_at);`,
    },
    {
        // The backlog a boat's upload reports (X-D3kOS-Backlog), and the fleet page's order: oldest contact first.
        version: 3,
        sql: `
        ALTER TABLE installations ADD COLUMN backlog_exports INTEGER;
        ALTER TABLE installations ADD COLUMN backlog_bytes INTEGER;
        ALTER TABLE installations ADD COLUMN backlog_reported_at TEXT;
        CREATE INDEX installations_by_contact ON installations (last_import_at, installation_id);`,
    },
];

// synchronous=FULL: a success answer makes the boat advance its watermarks, so a commit must survive a power cut.
const WRITER_SETUP = 'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;';
const READER_SETUP = 'PRAGMA busy_timeout = 10000; PRAGMA query_only = 1;';

const BATCH_ROWS = 500;

function upsertRowsSql(rows: number): string {
    const values = Array.from({ length: rows }, (_, i) => `(?1, ?${4 * i + 4}, ?${4 * i + 5}, ?${4 * i + 6}, ?${4 * i + 7}, ?2, ?3)`).join(', ');
    // An older export arriving late (a retry) never overwrites what a newer one stored.
    return `INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at)
        VALUES ${values}
        ON CONFLICT (installation_id, category, row_key) DO UPDATE
        SET entry = excluded.entry, entry_bytes = excluded.entry_bytes, export_id = excluded.export_id, exported_at = excluded.exported_at
        WHERE excluded.exported_at >= category_rows.exported_at
        RETURNING rowid AS seq, category`;
}

/**
 * The embedded store: one SQLite file (WAL) in the ingest's data folder.
 * One writer: imports run one after another, each in one transaction, so a
 * crash mid-import stores all of that export or none of it. Pages and the
 * health check read on connections of their own.
 */
export class SqliteStore implements IngestStore {
    readonly kind = 'sqlite' as const;
    readonly batchRows = BATCH_ROWS;
    private writing: Promise<unknown> = Promise.resolve();
    private fullBatch: Promise<Prepared> | undefined;

    private constructor(
        private readonly writer: Connection,
        private readonly reader: Connection,
        private readonly healthReader: Connection,
        readonly file: string,
    ) {}

    get label(): string {
        return path.basename(this.file);
    }

    static async open(dataDir: string): Promise<SqliteStore> {
        await fs.mkdir(dataDir, { recursive: true });
        const file = path.join(dataDir, DATABASE_FILE);
        const opened: Connection[] = [];
        try {
            const writer = await Connection.open(file, WRITER_SETUP);
            opened.push(writer);
            await migrate(writer);
            opened.push(await Connection.open(file, READER_SETUP));
            opened.push(await Connection.open(file, READER_SETUP));
            return new SqliteStore(opened[0], opened[1], opened[2], file);
        } catch (err) {
            for (const connection of opened.reverse()) await connection.close();
            throw err;
        }
    }

    /** Waits for the writer, then holds it until the session commits or rolls back. */
    beginImport(): Promise<ImportSession> {
        let release!: () => void;
        const done = new Promise<void>((resolve) => (release = resolve));
        const turn = this.writing.then(() => new SqliteSession(this.writer, () => this.batchStatement(), release));
        this.writing = turn.then(
            () => done,
            () => undefined,
        );
        return turn;
    }

    /** Runs `work` when the writer is free (failures are recorded between imports). */
    private withWriter<T>(work: () => Promise<T>): Promise<T> {
        const run = this.writing.then(work);
        this.writing = run.catch(() => undefined);
        return run;
    }

    private batchStatement(): Promise<Prepared> {
        this.fullBatch ??= this.writer.prepare(upsertRowsSql(BATCH_ROWS));
        return this.fullBatch;
    }

    async findImport(installationId: string, exportId: string): Promise<PriorImport | undefined> {
        return this.reader.get<PriorImport>('SELECT import_id, records_imported FROM imported_exports WHERE installation_id = ? AND export_id = ?', [installationId, exportId]);
    }

    recordFailure(failure: FailedImport): Promise<void> {
        return this.withWriter(async () => {
            await this.writer.run(
                `INSERT INTO failed_imports (installation_id, export_id, failed_at, status, error) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (installation_id, export_id) DO UPDATE SET failed_at = excluded.failed_at, status = excluded.status, error = excluded.error, attempts = attempts + 1`,
                [failure.installation_id, failure.export_id, failure.failed_at, failure.status, failure.error],
            );
        });
    }

    installations(page: { after?: string; limit: number; only?: string }): Promise<InstallationSummary[]> {
        return this.reader.all<InstallationSummary>(
            `SELECT installation_id, export_count, records_imported, first_import_at, last_import_at, last_export_id FROM installations
             WHERE installation_id > ? AND (? IS NULL OR installation_id = ?) ORDER BY installation_id LIMIT ?`,
            [page.after ?? '', page.only ?? null, page.only ?? null, page.limit],
        );
    }

    async counts(): Promise<{ installations: number; exports: number }> {
        const row = await this.healthReader.get<{ installations: number; exports: number }>('SELECT count(*) AS installations, coalesce(sum(export_count), 0) AS exports FROM installations');
        return row ?? { installations: 0, exports: 0 };
    }

    async knowsInstallation(installationId: string): Promise<boolean> {
        return (await this.reader.get('SELECT 1 FROM installations WHERE installation_id = ?', [installationId])) !== undefined;
    }

    async categoryRows(installationId: string, category: string, page: PageRequest): Promise<CategoryPage> {
        const where = 'installation_id = ? AND category = ?';
        const start = page.after !== undefined ? 'AND rowid > ? ORDER BY rowid LIMIT ?' : 'ORDER BY rowid LIMIT ? OFFSET ?';
        const startParams = page.after !== undefined ? [page.after, page.limit + 1] : [page.limit + 1, page.offset ?? 0];
        const [total, sizes, data] = await Promise.all([
            this.reader.get<{ rows: number }>(`SELECT rows FROM category_counts WHERE ${where}`, [installationId, category]),
            this.reader.all<{ seq: number; bytes: number }>(`SELECT rowid AS seq, entry_bytes AS bytes FROM category_rows INDEXED BY category_rows_by_arrival WHERE ${where} ${start}`, [
                installationId,
                category,
                ...startParams,
            ]),
            this.reader.get<{ data: string }>(`SELECT data FROM category_data WHERE ${where}`, [installationId, category]),
        ]);
        const chosen = cutByBytes(sizes.slice(0, page.limit), page.maxBytes, page.maxRowBytes);
        const more = sizes.length > chosen.length;
        let entries = '[]';
        if (chosen.length > 0) {
            // The page's JSON is put together on SQLite's thread: Node-RED's gets one string, not a thousand rows.
            const read = await this.reader.get<{ entries: string }>(
                `SELECT '[' || coalesce(group_concat(CASE WHEN entry_bytes > ? THEN 'null' ELSE entry END, ',' ORDER BY rowid), '') || ']' AS entries
                 FROM category_rows INDEXED BY category_rows_by_arrival WHERE ${where} AND rowid >= ? AND rowid <= ?`,
                [page.maxRowBytes, installationId, category, chosen[0].seq, chosen[chosen.length - 1].seq],
            );
            entries = read?.entries ?? '[]';
        }
        return { total: total?.rows ?? 0, rows: chosen, entries, more, data: data?.data ?? null };
    }

    async importedExports(exportId: string): Promise<ImportedExport[]> {
        const rows = await this.reader.all<Omit<ImportedExport, 'categories'> & { categories: string }>(
            `SELECT export_id, import_id, installation_id, mode, tier, format_version, exported_at, imported_at, records_imported, body_bytes, categories
             FROM imported_exports WHERE export_id = ? ORDER BY imported_at DESC`,
            [exportId],
        );
        return rows.map((row) => ({ ...row, categories: JSON.parse(row.categories) }));
    }

    async fleetHealth(quietSince: string, limit: number): Promise<FleetHealth> {
        const [quiet, failed] = await Promise.all([
            this.reader.all<FleetHealth['quiet'][number]>('SELECT installation_id, last_import_at, last_export_id FROM installations WHERE last_import_at < ? ORDER BY last_import_at LIMIT ?', [
                quietSince,
                limit,
            ]),
            this.reader.all<FleetHealth['failed'][number]>('SELECT installation_id, export_id, failed_at, status, error, attempts FROM failed_imports ORDER BY failed_at DESC LIMIT ?', [limit]),
        ]);
        return { quiet, failed };
    }

    /**
     * Waits for the import under way, then closes the connections one after the other: two closing at once can
     * each find the other still open, and neither folds the WAL back into the database.
     */
    async close(): Promise<void> {
        await this.writing;
        await (await this.fullBatch?.catch(() => undefined))?.finalize();
        await this.healthReader.close();
        await this.reader.close();
        await this.writer.close();
    }

    recordBacklog(installationId: string, backlog: Backlog, reportedAt: string): Promise<void> {
        return this.withWriter(async () => {
            await this.writer.run(
                `UPDATE installations SET backlog_exports = ?, backlog_bytes = ?, backlog_reported_at = ?
                 WHERE installation_id = ? AND (backlog_reported_at IS NULL OR backlog_reported_at <= ?)`,
                [backlog.exports, backlog.bytes, reportedAt, installationId, reportedAt],
            );
        });
    }

    async fleetBoats(query: FleetBoatsQuery): Promise<FleetBoatsPage> {
        const [lower, upper] = prefixRange(query.prefix);
        const [rows, counts] = await Promise.all([
            this.reader.all<Record<string, any>>(
                `SELECT i.installation_id, i.export_count, i.records_imported, i.first_import_at, i.last_import_at, i.last_export_id,
                        i.backlog_exports, i.backlog_bytes, i.backlog_reported_at,
                        (SELECT max(e.exported_at) FROM imported_exports AS e WHERE e.installation_id = i.installation_id) AS newest_exported_at,
                        (SELECT json_group_object(c.category, c.rows) FROM category_counts AS c WHERE c.installation_id = i.installation_id) AS rows,
                        (SELECT count(*) FROM failed_imports AS f WHERE f.installation_id = i.installation_id) AS refused_count,
                        (SELECT json_object('export_id', f.export_id, 'failed_at', f.failed_at, 'status', f.status, 'error', f.error, 'attempts', f.attempts)
                         FROM failed_imports AS f WHERE f.installation_id = i.installation_id ORDER BY f.failed_at DESC LIMIT 1) AS newest_refusal
                 FROM installations AS i INDEXED BY installations_by_contact
                 WHERE (?1 IS NULL OR (i.last_import_at, i.installation_id) > (?1, ?2)) AND i.installation_id >= ?3 AND i.installation_id < ?4
                 ORDER BY i.last_import_at, i.installation_id LIMIT ?5`,
                [query.after?.last_import_at ?? null, query.after?.installation_id ?? '', lower, upper, query.limit],
            ),
            this.reader.get<{ total: number; silent: number | null; matching: number | null }>(
                `SELECT count(*) AS total, sum(last_import_at < ?) AS silent, sum(installation_id >= ? AND installation_id < ?) AS matching FROM installations`,
                [query.silentBefore, lower, upper],
            ),
        ]);
        return { boats: rows.map(fleetBoatRow), total: counts?.total ?? 0, silent: counts?.silent ?? 0, matching: counts?.matching ?? 0 };
    }

    async boatContacts(query: { before: string; after?: FleetCursor; limit: number }): Promise<BoatContact[]> {
        const rows = await this.reader.all<Record<string, any>>(
            `SELECT installation_id, last_import_at, backlog_exports, backlog_bytes, backlog_reported_at FROM installations INDEXED BY installations_by_contact
             WHERE last_import_at < ?1 AND (?2 IS NULL OR (last_import_at, installation_id) > (?2, ?3)) ORDER BY last_import_at, installation_id LIMIT ?4`,
            [query.before, query.after?.last_import_at ?? null, query.after?.installation_id ?? '', query.limit],
        );
        return rows.map(boatContact);
    }

    async boatContactsOf(installationIds: string[]): Promise<BoatContact[]> {
        if (installationIds.length === 0) return [];
        const rows = await this.reader.all<Record<string, any>>(
            `SELECT installation_id, last_import_at, backlog_exports, backlog_bytes, backlog_reported_at FROM installations
             WHERE installation_id IN (SELECT value FROM json_each(?))`,
            [JSON.stringify(installationIds)],
        );
        return rows.map(boatContact);
    }
}

class SqliteSession implements ImportSession {
    private identity: ExportIdentity | undefined;
    private exportedAt = '';
    private highestSeq = 0;
    private readonly inserted = new Map<string, number>();
    private open = false;

    constructor(
        private readonly db: Connection,
        private readonly fullBatch: () => Promise<Prepared>,
        private readonly release: () => void,
    ) {}

    async claim(identity: ExportIdentity, exportedAt: string): Promise<PriorImport | undefined> {
        await this.db.exec('BEGIN IMMEDIATE');
        this.open = true;
        const before = await this.db.get<PriorImport>('SELECT import_id, records_imported FROM imported_exports WHERE installation_id = ? AND export_id = ?', [
            identity.installation_id,
            identity.export_id,
        ]);
        if (before) return before;
        this.identity = identity;
        this.exportedAt = exportedAt;
        this.highestSeq = (await this.db.get<{ seq: number | null }>('SELECT max(rowid) AS seq FROM category_rows'))?.seq ?? 0;
        return undefined;
    }

    async writeRows(rows: StoredRow[]): Promise<void> {
        const id = this.identity!;
        for (let at = 0; at < rows.length; at += BATCH_ROWS) {
            const batch = rows.slice(at, at + BATCH_ROWS);
            const params: unknown[] = [id.installation_id, id.export_id, this.exportedAt];
            for (const row of batch) params.push(row.category, row.key, row.entry, Buffer.byteLength(row.entry));
            const returned =
                batch.length === BATCH_ROWS
                    ? await (await this.fullBatch()).all<{ seq: number; category: string }>(params)
                    : await this.db.all<{ seq: number; category: string }>(upsertRowsSql(batch.length), params);
            this.countInserted(returned);
        }
    }

    /** A new row's rowid is past every rowid before it; an updated row keeps its own. */
    private countInserted(returned: Array<{ seq: number; category: string }>): void {
        let highest = this.highestSeq;
        const seen = new Set<number>();
        for (const { seq, category } of returned) {
            if (seq > this.highestSeq && !seen.has(seq)) {
                seen.add(seq);
                this.inserted.set(category, (this.inserted.get(category) ?? 0) + 1);
            }
            if (seq > highest) highest = seq;
        }
        this.highestSeq = highest;
    }

    async writeData(category: string, data: string): Promise<void> {
        const id = this.identity!;
        await this.db.run(
            `INSERT INTO category_data (installation_id, category, data, export_id, exported_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (installation_id, category) DO UPDATE
             SET data = excluded.data, export_id = excluded.export_id, exported_at = excluded.exported_at
             WHERE excluded.exported_at >= category_data.exported_at`,
            [id.installation_id, category, data, id.export_id, this.exportedAt],
        );
    }

    async commit(record: ImportRecord): Promise<void> {
        const { header } = record;
        try {
            await this.db.run(
                `INSERT INTO imported_exports (installation_id, export_id, import_id, mode, tier, format_version, exported_at, imported_at, records_imported, body_bytes, categories)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
                importedExportValues(record),
            );
            await this.db.run(
                `INSERT INTO installations (installation_id, export_count, records_imported, first_import_at, last_import_at, last_export_id) VALUES (?, 1, ?, ?, ?, ?)
                 ON CONFLICT (installation_id) DO UPDATE SET export_count = export_count + 1, records_imported = installations.records_imported + excluded.records_imported,
                 last_import_at = excluded.last_import_at, last_export_id = excluded.last_export_id`,
                [header.installation_id, header.records, record.imported_at, record.imported_at, header.export_id],
            );
            for (const [category, rows] of this.inserted) {
                await this.db.run(
                    `INSERT INTO category_counts (installation_id, category, rows) VALUES (?, ?, ?)
                     ON CONFLICT (installation_id, category) DO UPDATE SET rows = rows + excluded.rows`,
                    [header.installation_id, category, rows],
                );
            }
            await this.db.run('DELETE FROM failed_imports WHERE installation_id = ? AND export_id = ?', [header.installation_id, header.export_id]);
            await this.db.exec('COMMIT');
            this.open = false;
        } finally {
            if (this.open) await this.rollback();
            else this.release();
        }
    }

    async rollback(): Promise<void> {
        try {
            if (this.open) await this.db.exec('ROLLBACK').catch(() => undefined);
        } finally {
            this.open = false;
            this.release();
        }
    }
}

async function migrate(db: Connection): Promise<void> {
    await db.exec('CREATE TABLE IF NOT EXISTS schema_versions (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    for (const migration of MIGRATIONS) {
        await db.exec('BEGIN IMMEDIATE');
        try {
            const applied = await db.get('SELECT 1 FROM schema_versions WHERE version = ?', [migration.version]);
            if (!applied) {
                await db.exec(migration.sql);
                await db.run('INSERT INTO schema_versions (version, applied_at) VALUES (?, ?)', [migration.version, new Date().toISOString()]);
            }
            await db.exec('COMMIT');
        } catch (err) {
            await db.exec('ROLLBACK').catch(() => undefined);
            throw err;
        }
    }
}
