import { createWriteStream, promises as fs } from 'fs';
import * as crypto from 'crypto';
import * as os from 'os';
import * as path from 'path';
import type { Writable } from 'stream';
import { BoatDataError, errorMessage } from '../errors';
import { syncFolder, tempPathFor } from '../files/atomic';
import { quoteIdentifier, ReadOnlyDatabase } from '../sqlite/read-only-database';
import { BOM, csvRecord } from './rfc4180';

export const BOATLOG_TABLE = 'boatlog_entries';
export const BOATLOG_CSV_COLUMNS = ['Timestamp', 'Type', 'Content', 'Latitude', 'Longitude'] as const;
/** The boatlog columns behind the CSV columns, in the same order. */
const SOURCE_COLUMNS = ['timestamp', 'entry_type', 'content', 'latitude', 'longitude'];
export const DEFAULT_BATCH_ROWS = 2000;

export interface CsvResult {
    rows: number;
    bytes: number;
    /** False when there was no boatlog database or table: the CSV holds the header only. */
    source_found: boolean;
}

/**
 * Writes the boatlog as CSV into `out`, a batch of rows at a time (rowid
 * ranges on a read-only connection), waiting whenever `out` is full, so a
 * log of any length streams in bounded memory. Rows written by the boatlog
 * service after the export began are left for the next one. The database
 * is opened and checked before the first byte is written, so a broken
 * source fails cleanly. `out` is not ended.
 */
export async function writeBoatlogCsv(dbFile: string, out: Writable, options: { batchRows?: number } = {}): Promise<CsvResult> {
    const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
    const db = await ReadOnlyDatabase.open(dbFile);
    let bytes = 0;
    let failed: Error | null = null;
    const onError = (err: Error) => (failed ??= err);
    out.on('error', onError);
    const write = async (text: string) => {
        if (failed) throw failed;
        bytes += Buffer.byteLength(text);
        if (!out.write(text)) await drained(out);
        if (failed) throw failed;
    };
    try {
        const columns = db && (await db.tableExists(BOATLOG_TABLE)) ? await db.columns(BOATLOG_TABLE) : null;
        if (!db || !columns) {
            await write(BOM + csvRecord([...BOATLOG_CSV_COLUMNS]));
            return { rows: 0, bytes, source_found: false };
        }
        const select = SOURCE_COLUMNS.map((c) => (columns.includes(c) ? quoteIdentifier(c) : 'NULL')).join(', ');
        const table = quoteIdentifier(BOATLOG_TABLE);
        const last = await db.get<{ last: number | null }>(`SELECT max(rowid) AS last FROM ${table}`).catch(() => undefined);
        await write(BOM + csvRecord([...BOATLOG_CSV_COLUMNS]));
        let rows = 0;
        if (last !== undefined) {
            // Keyed on rowid: each batch is one indexed range read, however far into the log.
            let after = Number.MIN_SAFE_INTEGER;
            for (;;) {
                const batch = await db.all<Record<string, unknown>>(`SELECT rowid AS "__row", ${select} FROM ${table} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?`, [
                    after,
                    last.last ?? 0,
                    batchRows,
                ]);
                if (batch.length === 0) break;
                await write(batch.map((row) => csvRecord(Object.values(row).slice(1))).join(''));
                rows += batch.length;
                after = batch[batch.length - 1].__row as number;
            }
        } else {
            // A WITHOUT ROWID table has no rowid: page through it by its own order instead.
            for (let offset = 0; ; offset += batchRows) {
                const batch = await db.all<Record<string, unknown>>(`SELECT ${select} FROM ${table} ORDER BY timestamp LIMIT ? OFFSET ?`, [batchRows, offset]);
                if (batch.length === 0) break;
                await write(batch.map((row) => csvRecord(Object.values(row))).join(''));
                rows += batch.length;
            }
        }
        return { rows, bytes, source_found: true };
    } finally {
        out.off('error', onError);
        await db?.close();
    }
}

function drained(out: Writable): Promise<void> {
    return new Promise((resolve, reject) => {
        const cleanup = () => {
            out.off('drain', onDrain);
            out.off('error', onError);
            out.off('close', onClose);
        };
        const onDrain = () => {
            cleanup();
            resolve();
        };
        const onError = (err: Error) => {
            cleanup();
            reject(err);
        };
        const onClose = () => {
            cleanup();
            reject(new BoatDataError('CSV_ABORTED', 'the receiver of the boatlog CSV went away before it was finished', 499));
        };
        out.on('drain', onDrain);
        out.on('error', onError);
        out.on('close', onClose);
    });
}

/** Writes the CSV to `target` atomically (temp file, fsync, rename): a reader never sees half a file. */
export async function writeBoatlogCsvFile(dbFile: string, target: string, options: { batchRows?: number } = {}): Promise<CsvResult & { file: string }> {
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temp = tempPathFor(target);
    try {
        const out = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
        // Errors after the last write (a full disk on the final flush) surface through end().
        out.on('error', () => undefined);
        let result: CsvResult;
        try {
            result = await writeBoatlogCsv(dbFile, out, options);
        } finally {
            await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
        }
        const handle = await fs.open(temp, 'r');
        await handle.sync().finally(() => handle.close());
        await fs.rename(temp, target);
        await syncFolder(path.dirname(target));
        return { ...result, file: target };
    } catch (err) {
        await fs.rm(temp, { force: true }).catch(() => undefined);
        if ((err as NodeJS.ErrnoException)?.code === 'ENOSPC') {
            throw new BoatDataError('DISK_FULL', `the disk holding ${path.dirname(target)} is full; the boatlog CSV was not written`, 507);
        }
        if (err instanceof BoatDataError) throw err;
        throw new BoatDataError('CSV_FAILED', `the boatlog CSV could not be written to ${target}: ${errorMessage(err)}`, 500);
    }
}

/** Default cap for a CSV answered as one Buffer (Node-RED's http response node sends a Buffer whole). */
export const DEFAULT_MAX_BUFFER_BYTES = 50 * 1024 * 1024;

/**
 * The CSV as one Buffer, for an http response node. It is built in a temp
 * file first, so a log too big to answer this way is refused without ever
 * being held in memory.
 */
export async function boatlogCsvBuffer(dbFile: string, options: { maxBytes?: number; tempDir?: string; batchRows?: number } = {}): Promise<CsvResult & { data: Buffer }> {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    const temp = path.join(options.tempDir ?? os.tmpdir(), `d3kos-boatlog-${process.pid}-${crypto.randomBytes(4).toString('hex')}.csv`);
    try {
        const result = await writeBoatlogCsvFile(dbFile, temp, options);
        if (result.bytes > maxBytes) {
            const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
            throw new BoatDataError(
                'CSV_TOO_LARGE',
                `the boatlog CSV is ${mb(result.bytes)}, more than the ${mb(maxBytes)} an answer held in memory may be; set the boatlog CSV node to stream or to write a file`,
                413,
            );
        }
        return { rows: result.rows, bytes: result.bytes, source_found: result.source_found, data: await fs.readFile(temp) };
    } finally {
        await fs.rm(temp, { force: true }).catch(() => undefined);
    }
}

/** `boatlog_2026-11-22.csv`, in the boat's local date. */
export function boatlogCsvFilename(now = new Date()): string {
    const p = (n: number) => String(n).padStart(2, '0');
    return `boatlog_${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}.csv`;
}

export function csvHeaders(filename: string): Record<string, string> {
    return {
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': `attachment; filename="${filename}"`,
    };
}
