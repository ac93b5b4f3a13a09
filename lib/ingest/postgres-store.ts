import { Pool, PoolClient } from 'pg';
import { BoatDataError, errorMessage } from '../errors';
import {
    BOAT_TABLES,
    CategoryPage,
    cutByBytes,
    ErasedRows,
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
import { QUERYABLE_SCHEMA_SQL } from './postgres-schema';
import type { Backlog } from '../fleet/backlog';
import { BoatContact, boatContact, FleetBoatsPage, FleetBoatsQuery, FleetCursor, fleetBoatRow, prefixRange } from '../fleet/fleet-store';

/** Rows are spread over this many hash partitions by installation, so a boat's rows sit together and apart from the fleet's. */
const PARTITIONS = 8;

/** Versioned changes to the database, applied in order at start under one advisory lock (instances start together). */
const MIGRATIONS: Array<{ version: number; sql: string }> = [
    {
        version: 1,
        sql: `
        CREATE TABLE imported_exports (
            installation_id text NOT NULL, export_id text NOT NULL, import_id text NOT NULL UNIQUE, mode text, tier integer,
            format_version text NOT NULL, exported_at text NOT NULL, imported_at text NOT NULL, records_imported integer NOT NULL,
            body_bytes bigint NOT NULL, categories text NOT NULL, PRIMARY KEY (installation_id, export_id));
        CREATE INDEX imported_exports_by_id ON imported_exports (export_id);
        CREATE SEQUENCE category_rows_seq;
        CREATE TABLE category_rows (
            seq bigint NOT NULL DEFAULT nextval('category_rows_seq'), installation_id text NOT NULL, category text NOT NULL,
            row_key text NOT NULL, entry text NOT NULL, entry_bytes integer NOT NULL, export_id text NOT NULL, exported_at text NOT NULL,
            PRIMARY KEY (installation_id, category, row_key)) PARTITION BY HASH (installation_id);
        ${Array.from({ length: PARTITIONS }, (_, i) => `CREATE TABLE category_rows_${i} PARTITION OF category_rows FOR VALUES WITH (MODULUS ${PARTITIONS}, REMAINDER ${i});`).join('\n')}
        CREATE INDEX category_rows_by_arrival ON category_rows (installation_id, category, seq) INCLUDE (entry_bytes);
        CREATE TABLE category_data (
            installation_id text NOT NULL, category text NOT NULL, data text NOT NULL, export_id text NOT NULL,
            exported_at text NOT NULL, PRIMARY KEY (installation_id, category));
        CREATE TABLE installations (
            installation_id text PRIMARY KEY, export_count integer NOT NULL, records_imported bigint NOT NULL,
            first_import_at text NOT NULL, last_import_at text NOT NULL, last_export_id text NOT NULL);
        CREATE INDEX installations_by_last_import ON installations (last_import_at);
        CREATE TABLE category_counts (
            installation_id text NOT NULL, category text NOT NULL, rows bigint NOT NULL, PRIMARY KEY (installation_id, category));
        CREATE TABLE failed_imports (
            installation_id text NOT NULL, export_id text NOT NULL, failed_at text NOT NULL, status integer NOT NULL,
            error text NOT NULL, attempts integer NOT NULL DEFAULT 1, PRIMARY KEY (installation_id, export_id));
        CREATE INDEX failed_imports_by_time ON failed_imports (failed_at);`,
    },
    { version: 2, sql: QUERYABLE_SCHEMA_SQL },
    {
        // The backlog a boat's upload reports (X-D3kOS-Backlog), and the fleet page's order: oldest contact first.
        version: 3,
        sql: `
        ALTER TABLE installations ADD COLUMN backlog_exports integer, ADD COLUMN backlog_bytes bigint, ADD COLUMN backlog_reported_at timestamptz;
        CREATE INDEX installations_by_contact ON installations (last_import_at, installation_id);
        COMMENT ON COLUMN installations.backlog_exports IS 'Exports waiting on the boat (the one being sent included), as its newest upload reported them (X-D3kOS-Backlog)';
        COMMENT ON COLUMN installations.backlog_bytes IS 'Bytes of the exports waiting on the boat, as its newest upload reported them';
        COMMENT ON COLUMN installations.backlog_reported_at IS 'When the boat last reported its backlog';`,
    },
];

const MIGRATION_LOCK = 0x0d3c05;
const BATCH_ROWS = 2000;

// One statement per batch: the rows travel as one JSON array of [category, row key, entry] (the entry as the
// export's own JSON, which a json value keeps byte for byte), and the answer is how many were new per category:
// a new row's seq is past the mark the import took at its start (the boat's earlier imports drew theirs before it)
// and past every seq of its own earlier batches (a row sent twice in one export is counted once).
const UPSERT_ROWS_SQL = `
    WITH stored AS (
        INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at)
        SELECT $1, r->>0, r->>1, (r->2)::jsonb, octet_length((r->2)::text), $2, $3::timestamptz FROM json_array_elements($4::json) AS r
        ON CONFLICT (installation_id, category, row_key) DO UPDATE
        SET entry = excluded.entry, entry_bytes = excluded.entry_bytes, export_id = excluded.export_id, exported_at = excluded.exported_at
        WHERE excluded.exported_at >= category_rows.exported_at
        RETURNING category, seq)
    SELECT category, (count(*) FILTER (WHERE seq > $5))::int AS inserted, max(seq) AS top FROM stored GROUP BY category`;

const parseIntegers = (row: Record<string, unknown>, names: string[]) => {
    for (const name of names) if (row[name] != null) row[name] = Number(row[name]);
    return row;
};

/** timestamptz columns come back as Dates; the answers carry UTC ISO text, as the SQLite store's do. */
const isoTimes = <T extends Record<string, unknown>>(row: T, names: string[]): T => {
    for (const name of names) if (row[name] instanceof Date) (row as Record<string, unknown>)[name] = (row[name] as Date).toISOString();
    return row;
};

/**
 * The fleet store: PostgreSQL, for an operator who runs a database server
 * and more than one ingest instance. Each import takes a connection of the
 * writers' pool for its one transaction, and an advisory lock on its
 * installation, so two instances importing the same boat's export (a retry
 * reaching the other) store it once: the second finds the first's commit.
 * Reads and the health check have pools of their own, so neither waits
 * behind imports.
 */
export class PostgresStore implements IngestStore {
    readonly kind = 'postgres' as const;
    readonly batchRows = BATCH_ROWS;

    private constructor(
        private readonly writers: Pool,
        private readonly readers: Pool,
        private readonly healthPool: Pool,
        readonly label: string,
    ) {}

    static async open(url: string, poolSize = 8): Promise<PostgresStore> {
        const label = describeUrl(url);
        const pool = (max: number, name: string) => {
            const created = new Pool({ connectionString: url, max, application_name: `d3kos-ingest ${name}`, idleTimeoutMillis: 30000, connectionTimeoutMillis: 10000 });
            // An idle connection the server drops is replaced on the next use; the error must not end Node-RED.
            created.on('error', () => undefined);
            return created;
        };
        const writers = pool(poolSize, 'imports');
        const readers = pool(Math.max(2, poolSize / 2), 'reads');
        const healthPool = pool(1, 'health');
        try {
            await migrate(writers);
        } catch (err) {
            await Promise.all([writers.end(), readers.end(), healthPool.end()]);
            throw new BoatDataError('INGEST_DATABASE', `the central database ${label} cannot be used: ${errorMessage(err)}`, 500);
        }
        return new PostgresStore(writers, readers, healthPool, label);
    }

    async beginImport(): Promise<ImportSession> {
        const client = await this.writers.connect().catch(unavailable);
        return new PostgresSession(client);
    }

    async findImport(installationId: string, exportId: string): Promise<PriorImport | undefined> {
        const { rows } = await this.readers
            .query<PriorImport>('SELECT import_id, records_imported FROM imported_exports WHERE installation_id = $1 AND export_id = $2', [installationId, exportId])
            .catch(unavailable);
        return rows[0];
    }

    async recordFailure(failure: FailedImport): Promise<void> {
        await this.writers
            .query(
                `INSERT INTO failed_imports (installation_id, export_id, failed_at, status, error) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (installation_id, export_id) DO UPDATE SET failed_at = excluded.failed_at, status = excluded.status, error = excluded.error, attempts = failed_imports.attempts + 1`,
                [failure.installation_id, failure.export_id, failure.failed_at, failure.status, failure.error],
            )
            .catch(unavailable);
    }

    async installations(page: { after?: string; limit: number; only?: string }): Promise<InstallationSummary[]> {
        const { rows } = await this.readers
            .query(
                `SELECT installation_id, export_count, records_imported, first_import_at, last_import_at, last_export_id FROM installations
                 WHERE installation_id > $1 AND ($2::text IS NULL OR installation_id = $2) ORDER BY installation_id LIMIT $3`,
                [page.after ?? '', page.only ?? null, page.limit],
            )
            .catch(unavailable);
        return rows.map((row) => isoTimes(parseIntegers(row, ['records_imported']), ['first_import_at', 'last_import_at']) as unknown as InstallationSummary);
    }

    async counts(): Promise<{ installations: number; exports: number }> {
        const { rows } = await this.healthPool.query('SELECT count(*)::float8 AS installations, coalesce(sum(export_count), 0)::float8 AS exports FROM installations').catch(unavailable);
        return rows[0];
    }

    async knowsInstallation(installationId: string): Promise<boolean> {
        const { rows } = await this.readers.query('SELECT 1 FROM installations WHERE installation_id = $1', [installationId]).catch(unavailable);
        return rows.length > 0;
    }

    async categoryRows(installationId: string, category: string, page: PageRequest): Promise<CategoryPage> {
        const start = page.after !== undefined ? 'AND seq > $3 ORDER BY seq LIMIT $4' : 'ORDER BY seq LIMIT $3 OFFSET $4';
        const startParams = page.after !== undefined ? [page.after, page.limit + 1] : [page.limit + 1, page.offset ?? 0];
        const [total, sizes, data] = await Promise.all([
            this.readers.query('SELECT rows::float8 AS rows FROM category_counts WHERE installation_id = $1 AND category = $2', [installationId, category]),
            this.readers.query<{ seq: string; bytes: number }>(`SELECT seq, entry_bytes AS bytes FROM category_rows WHERE installation_id = $1 AND category = $2 ${start}`, [
                installationId,
                category,
                ...startParams,
            ]),
            this.readers.query<{ data: string }>('SELECT data::text AS data FROM category_data WHERE installation_id = $1 AND category = $2', [installationId, category]),
        ]).catch(unavailable);
        const chosen = cutByBytes(sizes.rows.slice(0, page.limit), page.maxBytes, page.maxRowBytes);
        const more = sizes.rows.length > chosen.length;
        let entries = '[]';
        if (chosen.length > 0) {
            // The page's JSON is put together by the server: Node-RED gets one string, not a thousand rows.
            const read = await this.readers
                .query<{ entries: string }>(
                    `SELECT '[' || coalesce(string_agg(CASE WHEN entry_bytes > $1 THEN 'null' ELSE entry::text END, ',' ORDER BY seq), '') || ']' AS entries
                     FROM category_rows WHERE installation_id = $2 AND category = $3 AND seq >= $4 AND seq <= $5`,
                    [page.maxRowBytes, installationId, category, chosen[0].seq, chosen[chosen.length - 1].seq],
                )
                .catch(unavailable);
            entries = read.rows[0]?.entries ?? '[]';
        }
        const rows = chosen.map((row) => ({ seq: Number(row.seq), bytes: row.bytes }));
        return { total: total.rows[0]?.rows ?? 0, rows, entries, more, data: data.rows[0]?.data ?? null };
    }

    async importedExports(exportId: string): Promise<ImportedExport[]> {
        const { rows } = await this.readers
            .query(
                `SELECT export_id, import_id, installation_id, mode, tier, format_version, exported_at, imported_at, records_imported, body_bytes, categories
                 FROM imported_exports WHERE export_id = $1 ORDER BY imported_at DESC`,
                [exportId],
            )
            .catch(unavailable);
        return rows.map((row) => isoTimes(parseIntegers(row, ['body_bytes']), ['exported_at', 'imported_at']) as unknown as ImportedExport);
    }

    async fleetHealth(quietSince: string, limit: number): Promise<FleetHealth> {
        const [quiet, failed] = await Promise.all([
            this.readers.query('SELECT installation_id, last_import_at, last_export_id FROM installations WHERE last_import_at < $1 ORDER BY last_import_at LIMIT $2', [quietSince, limit]),
            this.readers.query('SELECT installation_id, export_id, failed_at, status, error, attempts FROM failed_imports ORDER BY failed_at DESC LIMIT $1', [limit]),
        ]).catch(unavailable);
        return { quiet: quiet.rows.map((row) => isoTimes(row, ['last_import_at'])), failed: failed.rows.map((row) => isoTimes(row, ['failed_at'])) };
    }

    async eraseInstallation(installationId: string, tokenDigests: string[], erasedAt: string): Promise<ErasedRows> {
        const client = await this.writers.connect().catch(unavailable);
        let broken: Error | undefined;
        try {
            await client.query('BEGIN');
            // The boat's import under way, on any instance, commits first; its rows go with the rest.
            await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [installationId]);
            const removed = {} as ErasedRows;
            for (const table of BOAT_TABLES) removed[table] = (await client.query(`DELETE FROM ${table} WHERE installation_id = $1`, [installationId])).rowCount ?? 0;
            await client.query(
                'INSERT INTO erased_devices (token_sha256, erased_at) SELECT d, $2 FROM unnest($1::text[]) AS d ON CONFLICT (token_sha256) DO UPDATE SET erased_at = excluded.erased_at',
                [tokenDigests, erasedAt],
            );
            await client.query('COMMIT');
            return removed;
        } catch (err) {
            await client.query('ROLLBACK').catch((e) => (broken = e));
            return unavailable(err);
        } finally {
            client.release(broken);
        }
    }

    async erasedSince(tokenDigest: string): Promise<string | undefined> {
        const { rows } = await this.readers.query<{ erased_at: Date }>('SELECT erased_at FROM erased_devices WHERE token_sha256 = $1', [tokenDigest]).catch(unavailable);
        return rows[0]?.erased_at.toISOString();
    }

    /** One batch on the readers' pool (imports keep theirs), its rows and their counts in one short transaction. */
    async deleteOldRows(category: string, before: string, batchRows: number): Promise<number> {
        const { rows } = await this.readers
            .query<{ deleted: number }>(
                `WITH gone AS (
                     DELETE FROM category_rows r USING (SELECT installation_id, row_key FROM category_rows WHERE category = $1 AND exported_at < $2 LIMIT $3) old
                     WHERE r.category = $1 AND r.installation_id = old.installation_id AND r.row_key = old.row_key RETURNING r.installation_id),
                 per_boat AS (SELECT installation_id, count(*) AS n FROM gone GROUP BY installation_id),
                 counted AS (
                     UPDATE category_counts c SET rows = greatest(c.rows - p.n, 0) FROM per_boat p WHERE c.installation_id = p.installation_id AND c.category = $1)
                 SELECT coalesce(sum(n), 0)::int AS deleted FROM per_boat`,
                [category, before, batchRows],
            )
            .catch(unavailable);
        return rows[0].deleted;
    }

    async close(): Promise<void> {
        await Promise.all([this.writers.end(), this.readers.end(), this.healthPool.end()]);
    }

    // The fleet's queries compare times with ::timestamptz, so they read the same whether a column holds ISO text or timestamptz.

    async recordBacklog(installationId: string, backlog: Backlog, reportedAt: string): Promise<void> {
        await this.writers
            .query(
                `UPDATE installations SET backlog_exports = $1, backlog_bytes = $2, backlog_reported_at = $3::timestamptz
                 WHERE installation_id = $4 AND (backlog_reported_at IS NULL OR backlog_reported_at::timestamptz <= $3::timestamptz)`,
                [backlog.exports, backlog.bytes, reportedAt, installationId],
            )
            .catch(unavailable);
    }

    async fleetBoats(query: FleetBoatsQuery): Promise<FleetBoatsPage> {
        const [lower, upper] = prefixRange(query.prefix);
        const [page, counts] = await Promise.all([
            this.readers.query(
                `SELECT i.installation_id, i.export_count, i.records_imported, i.first_import_at, i.last_import_at, i.last_export_id,
                        i.backlog_exports, i.backlog_bytes, i.backlog_reported_at,
                        (SELECT max(e.exported_at) FROM imported_exports AS e WHERE e.installation_id = i.installation_id) AS newest_exported_at,
                        (SELECT json_object_agg(c.category, c.rows) FROM category_counts AS c WHERE c.installation_id = i.installation_id) AS rows,
                        (SELECT count(*) FROM failed_imports AS f WHERE f.installation_id = i.installation_id) AS refused_count,
                        (SELECT json_build_object('export_id', f.export_id, 'failed_at', f.failed_at, 'status', f.status, 'error', f.error, 'attempts', f.attempts)
                         FROM failed_imports AS f WHERE f.installation_id = i.installation_id ORDER BY f.failed_at::timestamptz DESC LIMIT 1) AS newest_refusal
                 FROM installations AS i
                 WHERE ($1::timestamptz IS NULL OR (i.last_import_at::timestamptz, i.installation_id) > ($1::timestamptz, $2)) AND i.installation_id >= $3 AND i.installation_id < $4
                 ORDER BY i.last_import_at, i.installation_id LIMIT $5`,
                [query.after?.last_import_at ?? null, query.after?.installation_id ?? '', lower, upper, query.limit],
            ),
            this.readers.query(
                `SELECT count(*)::float8 AS total, (count(*) FILTER (WHERE last_import_at::timestamptz < $1::timestamptz))::float8 AS silent,
                        (count(*) FILTER (WHERE installation_id >= $2 AND installation_id < $3))::float8 AS matching FROM installations`,
                [query.silentBefore, lower, upper],
            ),
        ]).catch(unavailable);
        const { total, silent, matching } = counts.rows[0];
        return { boats: page.rows.map(fleetBoatRow), total, silent, matching };
    }

    async boatContacts(query: { before: string; after?: FleetCursor; limit: number }): Promise<BoatContact[]> {
        const { rows } = await this.readers
            .query(
                `SELECT installation_id, last_import_at, backlog_exports, backlog_bytes, backlog_reported_at FROM installations
                 WHERE last_import_at::timestamptz < $1::timestamptz AND ($2::timestamptz IS NULL OR (last_import_at::timestamptz, installation_id) > ($2::timestamptz, $3))
                 ORDER BY last_import_at, installation_id LIMIT $4`,
                [query.before, query.after?.last_import_at ?? null, query.after?.installation_id ?? '', query.limit],
            )
            .catch(unavailable);
        return rows.map(boatContact);
    }

    async boatContactsOf(installationIds: string[]): Promise<BoatContact[]> {
        if (installationIds.length === 0) return [];
        const { rows } = await this.readers
            .query('SELECT installation_id, last_import_at, backlog_exports, backlog_bytes, backlog_reported_at FROM installations WHERE installation_id = ANY($1::text[])', [installationIds])
            .catch(unavailable);
        return rows.map(boatContact);
    }
}

class PostgresSession implements ImportSession {
    private identity: ExportIdentity | undefined;
    private exportedAt = '';
    private newRowsFrom = '0';
    private readonly inserted = new Map<string, number>();
    private open = false;
    private released = false;

    constructor(private readonly client: PoolClient) {}

    async claim(identity: ExportIdentity, exportedAt: string): Promise<PriorImport | undefined> {
        await this.query('BEGIN');
        this.open = true;
        // Imports of one boat take turns, on every instance: the second of two copies of an export finds the first's commit.
        const { rows: marks } = await this.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), nextval('category_rows_seq') AS seq", [identity.installation_id]);
        this.newRowsFrom = marks[0].seq;
        const { rows } = await this.query('SELECT import_id, records_imported FROM imported_exports WHERE installation_id = $1 AND export_id = $2', [identity.installation_id, identity.export_id]);
        if (rows[0]) return rows[0] as PriorImport;
        this.identity = identity;
        this.exportedAt = exportedAt;
        return undefined;
    }

    async writeRows(rows: StoredRow[]): Promise<void> {
        const id = this.identity!;
        for (let at = 0; at < rows.length; at += BATCH_ROWS) {
            // One statement cannot touch a row twice: an entry sent twice in an export counts once, as its last copy.
            const batch = new Map<string, StoredRow>();
            for (const row of rows.slice(at, at + BATCH_ROWS)) batch.set(`${row.category}\u0000${row.key}`, row);
            let json = '[';
            for (const row of batch.values()) json += `${json.length > 1 ? ',' : ''}[${JSON.stringify(row.category)},${JSON.stringify(row.key)},${row.entry}]`;
            json += ']';
            const { rows: counts } = await this.query(UPSERT_ROWS_SQL, [id.installation_id, id.export_id, this.exportedAt, json, this.newRowsFrom]);
            let top = BigInt(this.newRowsFrom);
            for (const row of counts as Array<{ category: string; inserted: number; top: string }>) {
                this.inserted.set(row.category, (this.inserted.get(row.category) ?? 0) + row.inserted);
                if (BigInt(row.top) > top) top = BigInt(row.top);
            }
            this.newRowsFrom = top.toString();
        }
    }

    async writeData(category: string, data: string): Promise<void> {
        const id = this.identity!;
        await this.query(
            `INSERT INTO category_data (installation_id, category, data, export_id, exported_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (installation_id, category) DO UPDATE
             SET data = excluded.data, export_id = excluded.export_id, exported_at = excluded.exported_at
             WHERE excluded.exported_at >= category_data.exported_at`,
            [id.installation_id, category, data, id.export_id, this.exportedAt],
        );
    }

    async commit(record: ImportRecord): Promise<void> {
        try {
            // One round trip: the import's record, the boat's figures, its new rows per category, its failure forgotten.
            await this.query(
                `WITH imported AS (
                     INSERT INTO imported_exports (installation_id, export_id, import_id, mode, tier, format_version, exported_at, imported_at, records_imported, body_bytes, categories)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)),
                 boat AS (
                     INSERT INTO installations (installation_id, export_count, records_imported, first_import_at, last_import_at, last_export_id) VALUES ($1, 1, $9, $8, $8, $2)
                     ON CONFLICT (installation_id) DO UPDATE SET export_count = installations.export_count + 1, records_imported = installations.records_imported + excluded.records_imported,
                     last_import_at = excluded.last_import_at, last_export_id = excluded.last_export_id),
                 counted AS (
                     INSERT INTO category_counts (installation_id, category, rows) SELECT $1, c, n FROM unnest($12::text[], $13::bigint[]) AS u(c, n)
                     ON CONFLICT (installation_id, category) DO UPDATE SET rows = category_counts.rows + excluded.rows)
                 DELETE FROM failed_imports WHERE installation_id = $1 AND export_id = $2`,
                [...importedExportValues(record), [...this.inserted.keys()], [...this.inserted.values()]],
            );
            await this.query('COMMIT');
            this.open = false;
        } finally {
            if (this.open) await this.rollback();
            else this.release();
        }
    }

    async rollback(): Promise<void> {
        let broken: Error | undefined;
        try {
            if (this.open) await this.client.query('ROLLBACK');
        } catch (err) {
            broken = err as Error;
        } finally {
            this.open = false;
            this.release(broken);
        }
    }

    private release(broken?: Error): void {
        if (this.released) return;
        this.released = true;
        this.client.release(broken);
    }

    private query(sql: string, params?: unknown[]) {
        return this.client.query(sql, params).catch(unavailable);
    }
}

/** Applies the migrations not yet applied, up to `upTo` (a test makes a database as an older release left it). */
export async function migrate(pool: Pool, upTo = Infinity): Promise<void> {
    const client = await pool.connect();
    try {
        await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
        await client.query('CREATE TABLE IF NOT EXISTS schema_versions (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
        for (const migration of MIGRATIONS.filter((m) => m.version <= upTo)) {
            const { rows } = await client.query('SELECT 1 FROM schema_versions WHERE version = $1', [migration.version]);
            if (rows.length > 0) continue;
            await client.query('BEGIN');
            try {
                await client.query(migration.sql);
                await client.query('INSERT INTO schema_versions (version) VALUES ($1)', [migration.version]);
                await client.query('COMMIT');
            } catch (err) {
                await client.query('ROLLBACK').catch(() => undefined);
                throw err;
            }
        }
    } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
        client.release();
    }
}

/** The server and database of a URL, never its password. */
export function describeUrl(url: string): string {
    try {
        const parsed = new URL(url);
        return `postgres://${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
    } catch {
        return 'the PostgreSQL database';
    }
}

/** A database error a boat can retry (the server is down, a connection was lost) says so; others pass as they are. */
function unavailable(err: unknown): never {
    if (err instanceof BoatDataError) throw err;
    const code = (err as { code?: string }).code ?? '';
    if (code === '53100') throw new BoatDataError('INGEST_DISK_FULL', 'the central database disk is full; nothing of this export was stored', 507);
    if (code === '22P05')
        throw new BoatDataError('EXPORT_INVALID', 'an entry holds the character \\u0000, which the central database (PostgreSQL jsonb) cannot store; nothing of this export was stored', 400);
    if (code === 'ECONNREFUSED' || code === '57P01' || code === '53300' || code === '40P01' || /timeout|terminated|Connection/i.test(errorMessage(err))) {
        throw new BoatDataError('INGEST_BUSY', `the central database is out of reach or busy (${errorMessage(err)}); try again shortly`, 503);
    }
    throw err;
}
