import * as path from 'path';
import { BoatDataError } from '../errors';
import type { Backlog } from '../fleet/backlog';
import type { BoatContact, FleetBoatsPage, FleetBoatsQuery, FleetCursor } from '../fleet/fleet-store';
import type { ExportHeader, ExportIdentity } from './validate';
import { PostgresStore } from './postgres-store';
import { SqliteStore } from './sqlite-store';

export const DATABASE_FILE = 'ingest.db';

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

/** One stored entry of a category: its arrival position and size. */
export interface StoredEntry {
    seq: number;
    bytes: number;
}

export interface CategoryPage {
    total: number;
    /** The page's rows in arrival order, and their entries as one JSON array (an entry over the read cap as null). */
    rows: StoredEntry[];
    entries: string;
    /** Rows follow this page. */
    more: boolean;
    /** The category's current data object, as JSON text. */
    data: string | null;
}

/** Where a page starts: after an arrival position (any page costs what the first costs), or at an offset (older callers). */
export interface PageRequest {
    after?: number;
    offset?: number;
    limit: number;
    /** Entries are cut after this many bytes; at least one row is answered. */
    maxBytes: number;
    /** A row larger than this is answered as null, whatever it holds (rows stored before the row cap existed). */
    maxRowBytes: number;
}

export interface StoredRow {
    category: string;
    key: string;
    entry: string;
}

/** An import stored before under the same installation and export_id. */
export interface PriorImport {
    import_id: string;
    records_imported: number;
}

export interface ImportRecord {
    header: ExportHeader;
    import_id: string;
    imported_at: string;
    exported_at: string;
    body_bytes: number;
}

/**
 * The imported_exports row of an import, in the column order both stores
 * insert it: installation_id, export_id, import_id, mode, tier,
 * format_version, exported_at, imported_at, records_imported, body_bytes,
 * categories.
 */
export function importedExportValues(record: ImportRecord): Array<string | number | null> {
    const { header } = record;
    return [
        header.installation_id,
        header.export_id,
        record.import_id,
        header.mode,
        header.tier,
        header.format_version,
        record.exported_at,
        record.imported_at,
        header.records,
        record.body_bytes,
        JSON.stringify(header.categories),
    ];
}

/** The rows of a page that fit `maxBytes`, at least one; a row over `maxRowBytes` is answered as null, 4 bytes. */
export function cutByBytes<T extends { bytes: number }>(rows: T[], maxBytes: number, maxRowBytes: number): T[] {
    let total = 0;
    for (let i = 0; i < rows.length; i++) {
        total += rows[i].bytes > maxRowBytes ? 4 : rows[i].bytes;
        if (total > maxBytes && i > 0) return rows.slice(0, i);
    }
    return rows;
}

/** An import refused after its sender was let in (bad export, too large, a database error). */
export interface FailedImport {
    installation_id: string;
    export_id: string;
    failed_at: string;
    status: number;
    error: string;
}

export interface FleetHealth {
    quiet: Array<{ installation_id: string; last_import_at: string; last_export_id: string }>;
    failed: Array<FailedImport & { attempts: number }>;
}

/** Rows removed per table by the erasure of a boat. */
export type ErasedRows = Record<'category_rows' | 'category_data' | 'category_counts' | 'imported_exports' | 'installations' | 'failed_imports', number>;

/** The tables a boat's rows live in, in the order an erasure empties them. */
export const BOAT_TABLES = ['category_rows', 'category_data', 'category_counts', 'imported_exports', 'installations', 'failed_imports'] as const;

/**
 * One import: one transaction on PostgreSQL; on SQLite, transactions that
 * let other boats in between, the export recorded as imported in the last
 * (a crash before it leaves rows the resend upserts again, never an export
 * marked imported that is not whole). The store decides who stores an export:
 * `claim` answers the import already stored under the export's id, or
 * undefined when this session stores it (another import of the same boat,
 * on any instance, waits until this one commits or rolls back).
 */
export interface ImportSession {
    claim(identity: ExportIdentity, exportedAt: string): Promise<PriorImport | undefined>;
    /** Upserts rows by (installation, category, row key); an older export never overwrites a newer one's row. */
    writeRows(rows: StoredRow[]): Promise<void>;
    writeData(category: string, data: string): Promise<void>;
    commit(record: ImportRecord): Promise<void>;
    rollback(): Promise<void>;
}

/**
 * The central database: every export a fleet sent, and the current rows of
 * every category of every installation. Two kinds, one promise: the
 * embedded SQLite file (one Node-RED) and PostgreSQL (any number of ingest
 * instances on one database). Reads use their own connections and see only
 * committed imports; the health check has its own, so it never waits
 * behind an import or a read.
 */
export interface IngestStore {
    readonly kind: 'sqlite' | 'postgres';
    /** What the health answer names: the SQLite file's name, or the PostgreSQL server and database (no password). */
    readonly label: string;
    /** Rows at most per statement of an import. */
    readonly batchRows: number;
    beginImport(): Promise<ImportSession>;
    findImport(installationId: string, exportId: string): Promise<PriorImport | undefined>;
    recordFailure(failure: FailedImport): Promise<void>;
    installations(page: { after?: string; limit: number; only?: string }): Promise<InstallationSummary[]>;
    counts(): Promise<{ installations: number; exports: number }>;
    knowsInstallation(installationId: string): Promise<boolean>;
    categoryRows(installationId: string, category: string, page: PageRequest): Promise<CategoryPage>;
    importedExports(exportId: string): Promise<ImportedExport[]>;
    fleetHealth(quietSince: string, limit: number): Promise<FleetHealth>;
    /**
     * Removes every row of a boat from every table, in one transaction that waits for the boat's import under way,
     * and remembers the digests of its device tokens (erased_devices). Answers the rows removed per table.
     */
    eraseInstallation(installationId: string, tokenDigests: string[], erasedAt: string): Promise<ErasedRows>;
    /** When the boat of a device token (its sha256) was erased, if it was. */
    erasedSince(tokenDigest: string): Promise<string | undefined>;
    /** Deletes up to `batchRows` rows of `category` exported before `before`, in one short transaction; answers how many. */
    deleteOldRows(category: string, before: string, batchRows: number): Promise<number>;
    close(): Promise<void>;
    /** Keeps the backlog a boat's upload reported (X-D3kOS-Backlog) with its installation, unless a newer one is kept. */
    recordBacklog(installationId: string, backlog: Backlog, reportedAt: string): Promise<void>;
    /** One page of the fleet page, in one statement: boats by last contact, oldest (the silent) first. */
    fleetBoats(query: FleetBoatsQuery): Promise<FleetBoatsPage>;
    /** Boats last heard from before `before`, by last contact, from a cursor: what the silent-boat watch judges. */
    boatContacts(query: { before: string; after?: FleetCursor; limit: number }): Promise<BoatContact[]>;
    /** The same for named boats (those the watch holds as silent), whatever their last contact. */
    boatContactsOf(installationIds: string[]): Promise<BoatContact[]>;
}

/** Which database an ingest uses: a PostgreSQL URL, or empty for the SQLite file in the data folder. */
export function isPostgresUrl(database: string): boolean {
    return /^postgres(ql)?:\/\//i.test(database.trim());
}

export function checkDatabaseSetting(database: string): string {
    const value = database.trim();
    if (value !== '' && !isPostgresUrl(value)) {
        throw new BoatDataError('INGEST_DATABASE', 'the ingest database must be a postgres:// URL, or empty for the SQLite file in the data folder', 500);
    }
    return value;
}

/** Opens the store a setting names: PostgreSQL for a URL, else the SQLite file in `dataDir`. */
export async function openStore(dataDir: string, database = ''): Promise<IngestStore> {
    const url = checkDatabaseSetting(database);
    if (url) return PostgresStore.open(url);
    return SqliteStore.open(dataDir);
}

/** The SQLite store of a data folder, as tests and tools opened it before there were two kinds. */
export const IngestStore = {
    open: (dataDir: string): Promise<SqliteStore> => SqliteStore.open(dataDir),
};

const shared = new Map<string, { opening: Promise<IngestStore>; users: number }>();

/**
 * The store of a data folder or database, shared by every ingest node in
 * this process (one per endpoint in a flow), so a SQLite folder keeps one
 * writer and a PostgreSQL server one pool. `release` closes it after its
 * last user, once the import under way has finished.
 */
export function useSharedStore(dataDir: string, database = ''): { opening: Promise<IngestStore>; release: () => Promise<void> } {
    const key = database.trim() || path.resolve(dataDir);
    let entry = shared.get(key);
    if (!entry) {
        entry = { opening: openStore(dataDir, database), users: 0 };
        shared.set(key, entry);
        // A store that failed to open is tried afresh by the next user.
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
