import { promises as fs } from 'fs';
import * as path from 'path';
import { Connection, Prepared } from './database';
import {
    CategoryPage,
    cutByBytes,
    BOAT_TABLES,
    DATABASE_FILE,
    ErasedRows,
    FailedImport,
    FleetHealth,
    ImportedExport,
    ImportSession,
    IngestStore,
    InstallationSummary,
    PageRequest,
    PriorImport,
} from './store';
import { SQLITE_QUERYABLE_SQL } from './sqlite-schema';
import { BATCH_ROWS, SqliteSession, upsertRowsSql } from './sqlite-session';
import { KeyedTurns, Turns } from './writer-turns';
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
    { version: 3, sql: SQLITE_QUERYABLE_SQL },
    {
        // The backlog a boat's upload reports (X-D3kOS-Backlog), and the fleet page's order: oldest contact first.
        version: 4,
        sql: `
        ALTER TABLE installations ADD COLUMN backlog_exports INTEGER;
        ALTER TABLE installations ADD COLUMN backlog_bytes INTEGER;
        ALTER TABLE installations ADD COLUMN backlog_reported_at TEXT;
        CREATE INDEX installations_by_contact ON installations (last_import_at, installation_id);`,
    },
];

// synchronous=FULL: a success answer makes the boat advance its watermarks, so a commit must survive a power cut.
// secure_delete: freed space is zeroed, so a row deleted (retention, the erasure of a boat) leaves no copy in the file.
const WRITER_SETUP = 'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON;';
const READER_SETUP = 'PRAGMA busy_timeout = 10000; PRAGMA query_only = 1;';

/**
 * The embedded store: one SQLite file (WAL) in the ingest's data folder.
 * One writer, taken in turns: a large import writes in several transactions
 * and lets other boats' imports in between (SqliteSession); an export counts
 * as imported only once its last transaction commits. Pages and the health
 * check read on connections of their own.
 */
export class SqliteStore implements IngestStore {
    readonly kind = 'sqlite' as const;
    readonly batchRows = BATCH_ROWS;
    /** The one writer, in turns: imports' transactions, failures, retention batches, erasures. */
    private readonly writerTurns = new Turns();
    /** Each boat's imports and erasure, one after the other (the second copy of an export finds the first's). */
    private readonly boatTurns = new KeyedTurns();
    /** Imports under way, which close waits for. */
    private readonly sessions = new Set<Promise<void>>();
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

    /** A session takes the writer in turns, a transaction at a time, and lets others in between (see SqliteSession). */
    async beginImport(): Promise<ImportSession> {
        let ended!: () => void;
        const session = new Promise<void>((resolve) => (ended = resolve));
        this.sessions.add(session);
        return new SqliteSession(
            this.writer,
            this.writerTurns,
            this.boatTurns,
            () => this.batchStatement(),
            () => {
                this.sessions.delete(session);
                ended();
            },
        );
    }

    /** Runs `work` in a turn of the writer of its own (failures, retention batches), between imports' transactions. */
    private withWriter<T>(work: () => Promise<T>): Promise<T> {
        return this.writerTurns.run(work);
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

    async eraseInstallation(installationId: string, tokenDigests: string[], erasedAt: string): Promise<ErasedRows> {
        // After the boat's import under way, whose transactions would otherwise go on storing its rows.
        const endBoatTurn = await this.boatTurns.take(installationId);
        try {
            return await this.eraseNow(installationId, tokenDigests, erasedAt);
        } finally {
            endBoatTurn();
        }
    }

    private eraseNow(installationId: string, tokenDigests: string[], erasedAt: string): Promise<ErasedRows> {
        return this.withWriter(async () => {
            // Deleted rows are zeroed (secure_delete) and the WAL is emptied after: the file keeps no copy of the boat.
            await this.writer.exec('BEGIN IMMEDIATE');
            try {
                const removed = {} as ErasedRows;
                for (const table of BOAT_TABLES) removed[table] = (await this.writer.run(`DELETE FROM ${table} WHERE installation_id = ?`, [installationId])).changes;
                for (const digest of tokenDigests) await this.writer.run('INSERT OR REPLACE INTO erased_devices (token_sha256, erased_at) VALUES (?, ?)', [digest, erasedAt]);
                await this.writer.exec('COMMIT');
                return removed;
            } catch (err) {
                await this.writer.exec('ROLLBACK').catch(() => undefined);
                throw err;
            } finally {
                await this.writer.exec('PRAGMA wal_checkpoint(TRUNCATE)').catch(() => undefined);
            }
        });
    }

    async erasedSince(tokenDigest: string): Promise<string | undefined> {
        return (await this.reader.get<{ erased_at: string }>('SELECT erased_at FROM erased_devices WHERE token_sha256 = ?', [tokenDigest]))?.erased_at;
    }

    /** One batch on the writer, between imports: the next import waits for one short transaction at most. */
    deleteOldRows(category: string, before: string, batchRows: number): Promise<number> {
        return this.withWriter(async () => {
            await this.writer.exec('BEGIN IMMEDIATE');
            try {
                const gone = await this.writer.all<{ installation_id: string }>(
                    `DELETE FROM category_rows WHERE rowid IN (SELECT rowid FROM category_rows INDEXED BY category_rows_by_age WHERE category = ? AND exported_at < ? LIMIT ?)
                     RETURNING installation_id`,
                    [category, before, batchRows],
                );
                for (const [installationId, rows] of tally(gone)) {
                    await this.writer.run('UPDATE category_counts SET rows = max(rows - ?, 0) WHERE installation_id = ? AND category = ?', [rows, installationId, category]);
                }
                await this.writer.exec('COMMIT');
                return gone.length;
            } catch (err) {
                await this.writer.exec('ROLLBACK').catch(() => undefined);
                throw err;
            }
        });
    }

    /**
     * Waits for the import under way, then closes the connections one after the other: two closing at once can
     * each find the other still open, and neither folds the WAL back into the database.
     */
    async close(): Promise<void> {
        while (this.sessions.size > 0) await Promise.all([...this.sessions]);
        await this.writerTurns.run(async () => undefined);
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

/** Rows per installation. */
function tally(rows: Array<{ installation_id: string }>): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { installation_id } of rows) counts.set(installation_id, (counts.get(installation_id) ?? 0) + 1);
    return counts;
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
