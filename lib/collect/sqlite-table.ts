import { BoatDataError } from '../errors';
import { PreparedRead, ReadOnlyDatabase, quoteIdentifier } from '../sqlite/read-only-database';
import type { CategoryOutput } from '../export/export-file';
import type { Watermark } from '../export/watermarks';
import * as path from 'path';

export interface TableRowsOptions {
    table: string;
    /** Columns never exported (a disk path, say). */
    omitColumns?: string[];
    /** Fixed fields added to every row, such as the source a row came from. */
    constants?: Record<string, string>;
    /** The column that orders rows in time, used as the second watermark guard. */
    timestampColumn?: string;
    /** Only rows after this acknowledged mark (an incremental export). */
    since?: Watermark;
    /** Rowids per query; each query returns its rows as one JSON array built inside SQLite. */
    batchRowids?: number;
}

export interface TableRowsResult {
    watermark?: Watermark;
}

/**
 * Streams a table's rows as JSON objects into a category's entries. SQLite
 * builds the JSON itself (json_object / json_group_array) on the driver's
 * worker thread, a batch of rowids at a time, and hands it over as UTF-8
 * bytes (a BLOB), so Node-RED's event loop never decodes the rows into a
 * string nor encodes them back: it only moves finished bytes to disk.
 * Columns come from the table itself, so an older schema exports what it
 * has instead of failing on what it lacks.
 */
export async function writeTableRows(db: ReadOnlyDatabase, options: TableRowsOptions, entries: EntryList): Promise<TableRowsResult> {
    const { table } = options;
    const info = await db.all<{ name: string; type: string; pk: number }>(`PRAGMA table_info(${quoteIdentifier(table)})`);
    if (info.length === 0) {
        // A database its service has created but not yet set up is an empty source; one with other tables is the wrong schema.
        const tables = await db.get<{ n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'");
        if ((tables?.n ?? 0) === 0) return {};
        throw new BoatDataError('SOURCE_SCHEMA', `${path.basename(db.file)} has no ${table} table`);
    }
    const omit = new Set(options.omitColumns ?? []);
    const pairs: string[] = [];
    for (const column of info) {
        if (omit.has(column.name)) continue;
        pairs.push(`'${column.name.replace(/'/g, "''")}', ${jsonValue(quoteIdentifier(column.name))}`);
    }
    for (const [name, value] of Object.entries(options.constants ?? {})) {
        pairs.push(`'${name.replace(/'/g, "''")}', '${value.replace(/'/g, "''")}'`);
    }
    const timestampColumn = options.timestampColumn && info.some((c) => c.name === options.timestampColumn) ? quoteIdentifier(options.timestampColumn) : null;

    // Only AUTOINCREMENT makes rowids never come back. Without it a new row takes max(rowid)+1, so after the
    // newest acknowledged row is deleted the next row reuses its rowid, at or below the mark; and a table with no
    // INTEGER PRIMARY KEY may have its rowids renumbered by VACUUM. Such a table's incremental export also takes
    // rows newer than the acknowledged timestamp (a scan; the central side upserts by row key, so repeats are harmless).
    const since = options.since;
    const conditions: string[] = ['rowid > ?', 'rowid <= ?'];
    const extraParams: unknown[] = [];
    let cursor = 0;
    if (since?.rowid !== undefined) {
        if (!timestampColumn || since.timestamp === undefined || (await isAutoincrement(db, table))) {
            cursor = since.rowid;
        } else {
            conditions.push(`(rowid > ? OR ${timestampColumn} > ?)`);
            extraParams.push(since.rowid, since.timestamp);
        }
    }

    const bounds = await db.get<{ last: number | null }>(`SELECT max(rowid) AS last FROM ${quoteIdentifier(table)}`);
    const lastRowid = bounds?.last ?? 0;
    const batch = options.batchRowids ?? 5000;
    const select =
        `SELECT CAST(json_group_array(json_object(${pairs.join(', ')})) AS BLOB) AS rows, count(*) AS n, max(rowid) AS last` +
        (timestampColumn ? `, max(${timestampColumn}) AS newest` : '') +
        ` FROM ${quoteIdentifier(table)} WHERE ${conditions.join(' AND ')}`;
    if (cursor >= lastRowid) return {};
    const prepared = await db.prepare(select);
    try {
        return await readBatches(db, table, prepared, cursor, lastRowid, batch, extraParams, entries);
    } finally {
        await prepared.finalize();
    }
}

/** The batches of rowids from `cursor` to `lastRowid`, each written while the next is read. */
async function readBatches(
    db: ReadOnlyDatabase,
    table: string,
    prepared: PreparedRead,
    cursor: number,
    lastRowid: number,
    batch: number,
    extraParams: unknown[],
    entries: EntryList,
): Promise<TableRowsResult> {
    type Batch = { rows: Buffer; n: number; last: number | null; newest?: string | null };
    const query = (from: number) => prepared.get<Batch>([from, Math.min(from + batch, lastRowid), ...extraParams]);

    let newestRowid: number | undefined;
    let newestTimestamp: string | undefined;
    // The next batch is read while the current one is written.
    let pending = cursor < lastRowid ? query(cursor) : null;
    try {
        return await drain();
    } catch (err) {
        // The batch read ahead is not wanted any more: its failure must not go unheard as an unhandled rejection.
        pending?.catch(() => undefined);
        throw err;
    }

    async function drain(): Promise<TableRowsResult> {
        while (pending) {
            const result = await pending;
            let next = cursor + batch;
            if (!result || result.n === 0) {
                // Sparse rowids: jump to the next row that exists instead of walking empty ranges.
                const gap = await db.get<{ next: number | null }>(`SELECT min(rowid) AS next FROM ${quoteIdentifier(table)} WHERE rowid > ?`, [next]);
                next = gap?.next != null ? gap.next - 1 : lastRowid;
            }
            cursor = next;
            pending = cursor < lastRowid ? query(cursor) : null;
            if (result && result.n > 0) {
                await entries.add(result.rows.subarray(1, result.rows.length - 1), result.n);
                newestRowid = Math.max(newestRowid ?? 0, result.last ?? 0);
                if (result.newest != null && (newestTimestamp === undefined || String(result.newest) > newestTimestamp)) newestTimestamp = String(result.newest);
            }
        }
        return { watermark: watermarkOf(newestRowid, newestTimestamp) };
    }
}

/** Comma-separated entries of a category's `entries` array, from one or more sources. */
export class EntryList {
    count = 0;
    constructor(private readonly out: CategoryOutput) {}

    /** Adds `n` entries given as JSON objects already joined by commas (text, or its UTF-8 bytes). */
    async add(json: string | Buffer, n: number): Promise<void> {
        if (n === 0) return;
        if (this.count > 0) await this.out.write(',');
        await this.out.write(json);
        this.count += n;
    }

    async addValues(values: unknown[]): Promise<void> {
        for (let i = 0; i < values.length; i += 1000) {
            const slice = values.slice(i, i + 1000);
            await this.add(slice.map((v) => JSON.stringify(v)).join(','), slice.length);
        }
    }
}

/**
 * A column value as JSON: reals keep full precision (SQLite prints 15
 * digits, which can round), blobs become hex, everything else as stored.
 */
function jsonValue(column: string): string {
    return (
        `CASE typeof(${column}) ` +
        `WHEN 'real' THEN (CASE WHEN ${column} = CAST(printf('%!.15g', ${column}) AS REAL) THEN ${column} ELSE json(printf('%!.17g', ${column})) END) ` +
        `WHEN 'blob' THEN hex(${column}) ELSE ${column} END`
    );
}

/** Whether the table's rowids are never reused: declared AUTOINCREMENT, as its CREATE statement says. */
async function isAutoincrement(db: ReadOnlyDatabase, table: string): Promise<boolean> {
    const row = await db.get<{ sql: string | null }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]);
    return /\bAUTOINCREMENT\b/i.test(row?.sql ?? '');
}

function watermarkOf(rowid: number | undefined, timestamp: string | undefined): Watermark | undefined {
    if (rowid === undefined) return undefined;
    const mark: Watermark = { rowid };
    if (timestamp !== undefined) mark.timestamp = timestamp;
    return mark;
}
