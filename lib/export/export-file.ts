import { promises as fs } from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { BoatLayout } from '../boat/layout';
import { License } from '../boat/license';
import { CATEGORY_KEYS, CategoryKey } from '../categories';
import { BoatDataError, errorMessage } from '../errors';
import { syncFolder, writeJsonAtomic } from '../files/atomic';
import { readRegularFile } from '../files/regular-file';
import { hashFile } from '../files/hash';
import { loadWatermarks, Watermark, Watermarks } from './watermarks';
import { JsonTextScrubber } from './scrub';
import { CompressedFile, FlushPoint, StoredEncoding, storedName } from './compressed-file';
import { bulkExportId, classOf, UploadClass } from '../queue/parts';

export type ExportMode = 'full' | 'incremental';
export const FORMAT_VERSION = '1.0';

/** What one category added to the export. */
export interface CategorySummary {
    category: CategoryKey;
    entry_count: number;
    has_data: boolean;
    bytes: number;
    error?: string;
    /** How far this export reaches in the category; acknowledged only when central confirms it. */
    watermark?: Watermark;
    /** Where the category's JSON value lies in the file, [start, end) in bytes: an upload of part of the export cuts it from there. */
    at?: [number, number];
}

/**
 * An export being built. Plain data so it can travel on a Node-RED message
 * (messages are cloned between wires): the rows themselves go straight to
 * the partial file on disk, never into memory.
 */
export interface ExportInProgress {
    export_id: string;
    installation_id: string;
    tier: number;
    mode: ExportMode;
    timestamp: string;
    partial_file: string;
    final_file: string;
    /** The acknowledged marks at the start of an incremental export: rows after them go out. */
    since: Watermarks;
    categories: Partial<Record<CategoryKey, CategorySummary>>;
    header_bytes: number;
    data_bytes: number;
    /** Things the boat owner should hear about that did not stop the export (a damaged watermark file set aside). */
    warnings?: string[];
    /** Stored compressed: its urgent and bulk parts are written as two files, each the body its upload sends. Absent: one plain file. */
    encoding?: StoredEncoding;
    parts?: PartInProgress[];
}

/** One part of a compressed export being written: the whole document its upload sends, its other class's categories empty. */
export interface PartInProgress {
    part: UploadClass;
    export_id: string;
    partial_file: string;
    final_file: string;
    /** Categories written into it so far (with data or empty), and those with data. */
    written: number;
    with_data: number;
}

/** A closed part of a compressed export, as the queue takes it: uploaded as stored. */
export interface StoredPart {
    part: UploadClass;
    export_id: string;
    export_file: string;
    file_size_bytes: number;
    sha256: string;
    category_count: number;
    /** Set when the part carries only its own class's categories; absent when it is the whole export. */
    categories_sent?: CategoryKey[];
    /** The categories with rows or data in it. */
    with_data: CategoryKey[];
}

export interface ExportStatistics {
    total_categories: number;
    categories_with_data: number;
    total_size_bytes: number;
}

/** A closed export file, as the sync queue takes it. */
export interface FinishedExport {
    export_id: string;
    export_file: string;
    installation_id: string;
    created_at: string;
    tier: number;
    mode: ExportMode;
    category_count: number;
    file_size_bytes: number;
    sha256: string;
    statistics: ExportStatistics;
    watermarks: Watermarks;
    categories: Record<string, { entry_count: number; error?: string }>;
    /** The header's length and each category's place in the file, so the urgent and bulk parts can be sent apart (lib/queue/parts.ts). */
    layout?: ExportLayout;
    /** A compressed export: how it is stored, and its parts (the urgent one first; export_file, sha256 and file_size_bytes are that one's). */
    encoding?: StoredEncoding;
    parts?: StoredPart[];
    /** The JSON text's size, all parts together; file sizes are what the card holds. */
    plain_size_bytes?: number;
}

export interface ExportLayout {
    header_bytes: number;
    ranges: Partial<Record<CategoryKey, [number, number]>>;
    /** Categories with rows or data in this export. */
    with_data: CategoryKey[];
}

/** Writes one category's JSON object, as text or as its UTF-8 bytes; the chunks go to disk as they come. */
export interface CategoryOutput {
    write(chunk: string | Buffer): Promise<void>;
}

export interface CollectedCategory {
    entry_count: number;
    has_data: boolean;
    watermark?: Watermark;
    error?: string;
}

export function parseExportMode(value: unknown): ExportMode {
    if (value === undefined || value === null || value === '') return 'full';
    if (value === 'full' || value === 'incremental') return value;
    throw new BoatDataError('EXPORT_MODE_INVALID', `Export mode ${JSON.stringify(value)} is not known; use "full" or "incremental"`, 400);
}

const PARTIAL_PREFIX = '.export_';
const PARTIAL_SUFFIX = '.json.partial';
const issuedIds = new Set<string>();

/** export_<UTC yyyymmdd_HHMMSS_mmm>_<4 hex>: sortable by time, unique even within one millisecond. */
export function newExportId(now: Date): string {
    const iso = now.toISOString(); // 2026-11-22T23:14:34.123Z
    const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}_${iso.slice(20, 23)}`;
    for (;;) {
        const id = `export_${stamp}_${crypto.randomBytes(2).toString('hex')}`;
        if (!issuedIds.has(id)) {
            issuedIds.add(id);
            if (issuedIds.size > 100_000) issuedIds.clear();
            return id;
        }
    }
}

/**
 * Opens a new export: its header is written to a hidden partial file that
 * only becomes an export file, by rename, once it is complete.
 */
export async function startExport(
    layout: BoatLayout,
    license: License,
    mode: ExportMode,
    now = new Date(),
    /** How it is stored: br or gzip (the upload's encoding, written as produced), or plain JSON in one file. */
    storage?: StoredEncoding | 'plain',
): Promise<ExportInProgress> {
    if (license.tier < 1) {
        throw new BoatDataError('TIER_TOO_LOW', 'Export requires Tier 1 or higher', 403);
    }
    mode = parseExportMode(mode);
    if (mode === 'incremental' && license.tier < 2) {
        // Incremental exports are the daily export of Tier 2 and up.
        throw new BoatDataError('TIER_TOO_LOW', `Incremental exports require Tier 2 or higher (this boat is Tier ${license.tier})`, 403);
    }
    await fs.mkdir(layout.exportFilesDir, { recursive: true });
    storage ??= await storedEncoding(layout);
    const warnings: string[] = [];
    let since: Watermarks = {};
    if (mode === 'incremental') {
        const loaded = await loadWatermarks(layout.watermarksFile, now);
        since = loaded.marks.acknowledged;
        if (loaded.setAside) warnings.push(loaded.setAside.reason);
    }
    const timestamp = now.toISOString();
    for (let attempt = 0; ; attempt++) {
        const exportId = newExportId(now);
        const finalFile = path.join(layout.exportFilesDir, `${exportId}.json`);
        const partialFile = path.join(layout.exportFilesDir, `${PARTIAL_PREFIX}${exportId.slice('export_'.length)}${PARTIAL_SUFFIX}`);
        if (storage !== 'plain') {
            const exp = await startCompressed(layout, license, mode, timestamp, exportId, since, storage);
            if (!exp && attempt < 100) continue;
            if (!exp) throw new BoatDataError('EXPORT_NAME_TAKEN', `No free export name could be found in ${layout.exportFilesDir}`, 500);
            if (warnings.length > 0) exp.warnings = warnings;
            return exp;
        }
        const header = exportHeader(exportId, license, timestamp, mode);
        try {
            // 'wx' refuses an existing name: two exports can never share a file.
            if (await exists(finalFile)) continue;
            await fs.writeFile(partialFile, header, { flag: 'wx' });
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 100) continue;
            throw describeWriteError(err, layout.exportFilesDir);
        }
        const exp: ExportInProgress = {
            export_id: exportId,
            installation_id: license.installation_id,
            tier: license.tier,
            mode,
            timestamp,
            partial_file: partialFile,
            final_file: finalFile,
            since,
            categories: {},
            header_bytes: Buffer.byteLength(header),
            data_bytes: 0,
        };
        if (warnings.length > 0) exp.warnings = warnings;
        return exp;
    }
}

function exportHeader(exportId: string, license: License, timestamp: string, mode: ExportMode): string {
    return (
        '{' +
        [
            `"export_id":${JSON.stringify(exportId)}`,
            `"installation_id":${JSON.stringify(license.installation_id)}`,
            `"tier":${license.tier}`,
            `"format_version":${JSON.stringify(FORMAT_VERSION)}`,
            `"timestamp":${JSON.stringify(timestamp)}`,
            `"export_timestamp":${JSON.stringify(timestamp)}`,
            `"mode":${JSON.stringify(mode)}`,
        ].join(',') +
        ',"data":{'
    );
}

/** What each boat's central side decodes, by the boat's watermarks file (one boat, one upload queue): a cache of its file. */
const centralStorage = new Map<string, StoredEncoding>();
/** Boats whose noted encoding could not be saved yet. */
const unsaved = new Set<string>();

/** Where a boat remembers what its central side decodes: beside its watermarks, so it outlives a restart. */
function centralEncodingFile(watermarksFile: string): string {
    return path.join(path.dirname(watermarksFile), 'central_encoding.json');
}

/**
 * How new exports are stored: D3KOS_EXPORT_STORAGE (br, gzip or plain) when
 * set, else what the boat's central side last said it decodes (remembered in
 * central_encoding.json beside the watermarks, so the first export after a
 * restart is already in it), else br. A missing or damaged file means br
 * until the upload queue next reaches the central side.
 */
export async function storedEncoding(layout?: Pick<BoatLayout, 'watermarksFile'>): Promise<StoredEncoding | 'plain'> {
    const chosen = process.env.D3KOS_EXPORT_STORAGE?.trim().toLowerCase();
    if (chosen === 'br' || chosen === 'gzip' || chosen === 'plain') return chosen;
    if (!layout) return 'br';
    const key = path.resolve(layout.watermarksFile);
    const known = centralStorage.get(key);
    if (known) return known;
    try {
        const saved = JSON.parse(await readRegularFile(centralEncodingFile(key), { limitMs: 2000 })) as { encoding?: unknown };
        if (saved?.encoding === 'br' || saved?.encoding === 'gzip') {
            centralStorage.set(key, saved.encoding);
            return saved.encoding;
        }
    } catch {
        // Not saved yet, or damaged: br, until the next health check says what the central side takes.
    }
    return 'br';
}

/** What the boat's central side last said it decodes: its exports from now on are written in what it takes (saved when it changes). */
export async function noteCentralEncodings(watermarksFile: string, encoding: StoredEncoding): Promise<void> {
    const key = path.resolve(watermarksFile);
    if (centralStorage.get(key) === encoding && !unsaved.has(key)) return;
    centralStorage.set(key, encoding);
    // Until it is on the card, the next note tries again (a failed write must not be forgotten as done).
    unsaved.add(key);
    await writeJsonAtomic(centralEncodingFile(key), { encoding, noted_at: new Date().toISOString() });
    unsaved.delete(key);
}

/** The compressed files of the exports being built, by partial file: one compressor stream each, kept between categories. */
const openFiles = new Map<string, CompressedFile>();

/** The two parts' files, each begun with its header; null when a name is taken. */
async function startCompressed(
    layout: BoatLayout,
    license: License,
    mode: ExportMode,
    timestamp: string,
    exportId: string,
    since: Watermarks,
    encoding: StoredEncoding,
): Promise<ExportInProgress | null> {
    const parts: PartInProgress[] = (['urgent', 'bulk'] as const).map((part) => {
        const id = part === 'urgent' ? exportId : bulkExportId(exportId);
        return {
            part,
            export_id: id,
            partial_file: path.join(layout.exportFilesDir, `${PARTIAL_PREFIX}${id.slice('export_'.length)}${PARTIAL_SUFFIX}`),
            final_file: path.join(layout.exportFilesDir, storedName(id, encoding)),
            written: 0,
            with_data: 0,
        };
    });
    for (const part of parts) if (await exists(part.final_file)) return null;
    const opened: CompressedFile[] = [];
    try {
        for (const part of parts) {
            const file = await CompressedFile.create(part.partial_file, encoding);
            opened.push(file);
            openFiles.set(part.partial_file, file);
            await file.write(exportHeader(part.export_id, license, timestamp, mode));
        }
    } catch (err) {
        for (const file of opened) {
            openFiles.delete(file.file);
            await file.close();
            await fs.rm(file.file, { force: true });
        }
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
        throw describeWriteError(err, layout.exportFilesDir);
    }
    return {
        export_id: exportId,
        installation_id: license.installation_id,
        tier: license.tier,
        mode,
        timestamp,
        partial_file: parts[0].partial_file,
        final_file: parts[0].final_file,
        since,
        categories: {},
        header_bytes: Buffer.byteLength(exportHeader(exportId, license, timestamp, mode)),
        data_bytes: 0,
        encoding,
        parts,
    };
}

function openFileOf(exp: ExportInProgress, part: PartInProgress): CompressedFile {
    const file = openFiles.get(part.partial_file);
    if (!file) throw new BoatDataError('EXPORT_LOST', `The export ${exp.export_id} being built is gone (Node-RED restarted, or it was abandoned); start a new export`, 500);
    return file;
}

/**
 * One category into a compressed export: its rows into its class's part,
 * the category empty (with its error, if any) into the other part. A
 * collector that fails half-way is cut back to the flush point before it.
 */
async function appendCompressed(exp: ExportInProgress, key: CategoryKey, collect: (out: CategoryOutput) => Promise<CollectedCategory>, secrets: string[]): Promise<CategorySummary> {
    const own = exp.parts!.find((p) => p.part === classOf(key))!;
    const other = exp.parts!.find((p) => p !== own)!;
    const ownFile = openFileOf(exp, own);
    const otherFile = openFileOf(exp, other);
    const prefix = (part: PartInProgress) => (part.written > 0 ? ',' : '') + JSON.stringify(key) + ':';
    try {
        const point: FlushPoint = await ownFile.flushPoint();
        const result = await writeCategory({ write: (bytes) => ownFile.write(bytes), cutBack: () => ownFile.cutBack(point) }, prefix(own), key, collect, secrets);
        const bytes = ownFile.plainBytes - point.plain;
        const empty = new BufferedWriter((bytes) => otherFile.write(bytes), secrets);
        await empty.write(prefix(other) + JSON.stringify(emptyCategory(key, result.error)));
        await empty.flush();
        own.written++;
        other.written++;
        if (result.has_data) own.with_data++;
        const summary = summarise(key, result, bytes);
        exp.categories[key] = summary;
        exp.data_bytes += summary.bytes;
        return summary;
    } catch (err) {
        throw describeWriteError(err instanceof ExportWriteFailure ? err.cause : err, path.dirname(exp.partial_file));
    }
}

/** Where one category's JSON goes: a plain file from a position on, or a compressed part's stream. */
interface CategorySink {
    write(bytes: Buffer): Promise<void>;
    /** Drops all the category wrote: back to where the sink began. */
    cutBack(): Promise<void>;
}

/**
 * Writes one category into its sink: its key, then what the collector
 * writes, through the secret scrubber. A source that fails half-way is cut
 * back and replaced by the category empty with its error, so one broken
 * source never spoils the other eight; a failing write to the export itself
 * (a full disk) fails the export.
 */
async function writeCategory(sink: CategorySink, prefix: string, key: CategoryKey, collect: (out: CategoryOutput) => Promise<CollectedCategory>, secrets: string[]): Promise<CollectedCategory> {
    const writer = new BufferedWriter((bytes) => sink.write(bytes), secrets);
    await writer.write(prefix);
    try {
        const result = await collect(writer);
        await writer.flush();
        return result;
    } catch (err) {
        if (err instanceof ExportWriteFailure) throw err.cause;
        await writer.discard();
        await sink.cutBack();
        const error = errorMessage(err);
        const restart = new BufferedWriter((bytes) => sink.write(bytes), secrets);
        await restart.write(prefix + JSON.stringify(emptyCategory(key, error)));
        await restart.flush();
        return { entry_count: 0, has_data: false, error };
    }
}

/**
 * Closes a compressed export: each part's statistics, the end of its stream,
 * an fsync, the checksum of the stored bytes, the rename. A bulk part with
 * no data is dropped: the urgent part, its bulk categories empty, is then
 * the whole export.
 */
async function finishCompressed(exp: ExportInProgress): Promise<FinishedExport> {
    const parts = exp.parts!;
    const bulk = parts.find((p) => p.part === 'bulk')!;
    const keepBulk = bulk.with_data > 0;
    const stored: StoredPart[] = [];
    let plainTotal = 0;
    try {
        for (const part of parts) {
            const file = openFileOf(exp, part);
            if (part === bulk && !keepBulk) {
                openFiles.delete(part.partial_file);
                await file.close();
                await fs.rm(part.partial_file, { force: true });
                continue;
            }
            const withData = keepBulk ? part.with_data : parts.reduce((n, p) => n + p.with_data, 0);
            const tail = statisticsTail(file.plainBytes, withData);
            await file.write(tail);
            const { sha256, size } = await file.finish();
            openFiles.delete(part.partial_file);
            plainTotal += file.plainBytes;
            stored.push({
                part: part.part,
                export_id: part.export_id,
                export_file: part.final_file,
                file_size_bytes: size,
                sha256,
                category_count: withData,
                with_data: CATEGORY_KEYS.filter((key) => exp.categories[key]?.has_data && (!keepBulk || classOf(key) === part.part)),
                ...(keepBulk ? { categories_sent: CATEGORY_KEYS.filter((key) => classOf(key) === part.part) } : {}),
            });
        }
        // The bulk part first: an urgent file alone on disk is a whole export to whoever finds it.
        for (const part of [...stored].reverse()) await fs.rename(parts.find((p) => p.export_id === part.export_id)!.partial_file, part.export_file);
        await syncFolder(path.dirname(exp.final_file));
    } catch (err) {
        await abandonCompressed(exp);
        throw describeWriteError(err, path.dirname(exp.partial_file));
    }
    const categoriesWithData = CATEGORY_KEYS.filter((key) => exp.categories[key]?.has_data).length;
    const watermarks: Watermarks = {};
    const categories: FinishedExport['categories'] = {};
    for (const key of CATEGORY_KEYS) {
        const summary = exp.categories[key]!;
        if (summary.watermark) watermarks[key] = summary.watermark;
        categories[key] = summary.error ? { entry_count: summary.entry_count, error: summary.error } : { entry_count: summary.entry_count };
    }
    const urgent = stored[0];
    const onDisk = stored.reduce((n, p) => n + p.file_size_bytes, 0);
    return {
        export_id: exp.export_id,
        export_file: urgent.export_file,
        installation_id: exp.installation_id,
        created_at: exp.timestamp,
        tier: exp.tier,
        mode: exp.mode,
        category_count: categoriesWithData,
        file_size_bytes: urgent.file_size_bytes,
        sha256: urgent.sha256,
        statistics: { total_categories: CATEGORY_KEYS.length, categories_with_data: categoriesWithData, total_size_bytes: onDisk },
        watermarks,
        categories,
        encoding: exp.encoding,
        parts: stored,
        plain_size_bytes: plainTotal,
    };
}

async function abandonCompressed(exp: ExportInProgress): Promise<void> {
    for (const part of exp.parts ?? []) {
        const file = openFiles.get(part.partial_file);
        openFiles.delete(part.partial_file);
        await file?.close().catch(() => undefined);
        await fs.rm(part.partial_file, { force: true });
        await fs.rm(part.partial_file.replace(PARTIAL_SUFFIX, `.redo${PARTIAL_SUFFIX}`), { force: true });
    }
}

/** The end of an export's JSON: its statistics, which hold the text's own size (the size that stays true once written). */
function statisticsTail(bodyBytes: number, categoriesWithData: number): string {
    let total = bodyBytes;
    let tail = '';
    for (let i = 0; i < 5; i++) {
        tail = '},' + `"statistics":${JSON.stringify({ total_categories: CATEGORY_KEYS.length, categories_with_data: categoriesWithData, total_size_bytes: total })}}\n`;
        const next = bodyBytes + Buffer.byteLength(tail);
        if (next === total) break;
        total = next;
    }
    return tail;
}

/**
 * Appends one category. A collector that fails half-way is cut back to where
 * it started and replaced by the category with its error, so one broken
 * source never spoils the other eight.
 */
export async function appendCategory(
    exp: ExportInProgress,
    key: CategoryKey,
    collect: (out: CategoryOutput) => Promise<CollectedCategory>,
    /** The boat's secret values: taken out of the category's JSON text wherever they appear, rows included. */
    secrets: string[] = [],
): Promise<CategorySummary> {
    if (exp.categories[key]) {
        throw new BoatDataError('CATEGORY_TWICE', `The ${key} category was already collected for ${exp.export_id}`, 500);
    }
    if (exp.parts) return appendCompressed(exp, key, collect, secrets);
    const handle = await fs.open(exp.partial_file, 'r+').catch((err) => {
        throw new BoatDataError('EXPORT_LOST', `The export ${exp.export_id} being built is gone (${errorMessage(err)}); start a new export`, 500);
    });
    try {
        const start = (await handle.stat()).size;
        const at = new FileAt(handle, start);
        const prefix = (Object.keys(exp.categories).length > 0 ? ',' : '') + JSON.stringify(key) + ':';
        const cutBack = async () => {
            await handle.truncate(start);
            at.position = start;
        };
        const result = await writeCategory({ write: at.put, cutBack }, prefix, key, collect, secrets);
        const summary = summarise(key, result, at.position - start);
        summary.at = [start + Buffer.byteLength(prefix), at.position];
        exp.categories[key] = summary;
        exp.data_bytes += summary.bytes;
        return summary;
    } catch (err) {
        throw describeWriteError(err instanceof ExportWriteFailure ? err.cause : err, path.dirname(exp.partial_file));
    } finally {
        await handle.close();
    }
}

function summarise(key: CategoryKey, result: CollectedCategory, bytes: number): CategorySummary {
    const summary: CategorySummary = { category: key, entry_count: result.entry_count, has_data: result.has_data, bytes };
    if (result.error) summary.error = result.error;
    if (result.watermark) summary.watermark = result.watermark;
    return summary;
}

/** A category with nothing in it, in the shape its collector would have written. */
export function emptyCategory(key: CategoryKey, error?: string): Record<string, unknown> {
    const body: Record<string, unknown> = key === 'settings' || key === 'onboarding' ? { category: key, entry_count: 0, data: {} } : { category: key, entry_count: 0, entries: [] };
    if (error) body.error = error;
    return body;
}

export function missingCategories(exp: ExportInProgress): CategoryKey[] {
    return CATEGORY_KEYS.filter((key) => !exp.categories[key]);
}

/**
 * Closes the export: the statistics, an fsync, the checksum, then the rename
 * that makes it an export file. Until that rename nothing sees it.
 */
export async function finishExport(exp: ExportInProgress): Promise<FinishedExport> {
    for (const key of missingCategories(exp)) {
        await appendCategory(exp, key, async (out) => {
            await out.write(JSON.stringify(emptyCategory(key)));
            return { entry_count: 0, has_data: false };
        });
    }
    if (exp.parts) return finishCompressed(exp);
    const categoriesWithData = CATEGORY_KEYS.filter((key) => exp.categories[key]?.has_data).length;
    const tail = statisticsTail(exp.header_bytes + exp.data_bytes, categoriesWithData);
    try {
        const handle = await fs.open(exp.partial_file, 'a');
        try {
            await handle.write(tail);
            await handle.sync();
        } finally {
            await handle.close();
        }
        const { sha256, size } = await hashFile(exp.partial_file);
        await fs.rename(exp.partial_file, exp.final_file);
        await syncFolder(path.dirname(exp.final_file));
        const watermarks: Watermarks = {};
        const categories: FinishedExport['categories'] = {};
        const layout: ExportLayout = { header_bytes: exp.header_bytes, ranges: {}, with_data: [] };
        for (const key of CATEGORY_KEYS) {
            const summary = exp.categories[key]!;
            if (summary.at) layout.ranges[key] = summary.at;
            if (summary.has_data) layout.with_data.push(key);
            if (summary.watermark) watermarks[key] = summary.watermark;
            categories[key] = summary.error ? { entry_count: summary.entry_count, error: summary.error } : { entry_count: summary.entry_count };
        }
        return {
            export_id: exp.export_id,
            export_file: exp.final_file,
            installation_id: exp.installation_id,
            created_at: exp.timestamp,
            tier: exp.tier,
            mode: exp.mode,
            category_count: categoriesWithData,
            file_size_bytes: size,
            sha256,
            statistics: { total_categories: CATEGORY_KEYS.length, categories_with_data: categoriesWithData, total_size_bytes: size },
            watermarks,
            categories,
            layout,
        };
    } catch (err) {
        throw describeWriteError(err, path.dirname(exp.partial_file));
    }
}

/** Removes an unfinished export (a failed or abandoned one); no export file is left behind. */
export async function abandonExport(exp: ExportInProgress): Promise<void> {
    if (exp.parts) return abandonCompressed(exp);
    await fs.rm(exp.partial_file, { force: true });
}

export interface StalePartials {
    removed: string[];
    /** Partials that could not be removed (a read-only card, a folder of that name), each with the reason. */
    kept: Array<{ name: string; error: string }>;
}

/** Partial files left by a crash or power cut: they never became exports and never will. */
export async function removeStalePartials(dir: string, olderThanMs: number, now = Date.now()): Promise<StalePartials> {
    const result: StalePartials = { removed: [], kept: [] };
    let names: string[];
    try {
        names = await fs.readdir(dir);
    } catch {
        return result;
    }
    for (const name of names) {
        if (!name.startsWith(PARTIAL_PREFIX) || !name.endsWith(PARTIAL_SUFFIX)) continue;
        const file = path.join(dir, name);
        const stat = await fs.stat(file).catch(() => null);
        if (!stat || now - stat.mtimeMs < olderThanMs) continue;
        try {
            // Not recursive: a folder that merely has a partial's name is not ours to empty.
            await fs.rm(file, { force: true });
            result.removed.push(name);
        } catch (err) {
            result.kept.push({ name, error: errorMessage(err) });
        }
    }
    return result;
}

async function exists(file: string): Promise<boolean> {
    return fs.access(file).then(
        () => true,
        () => false,
    );
}

function describeWriteError(err: unknown, dir: string): Error {
    if (err instanceof BoatDataError) return err;
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ENOSPC') return new BoatDataError('DISK_FULL', `The disk holding ${dir} is full; the export was not written and nothing stored was changed`, 507);
    if (code === 'EACCES' || code === 'EPERM') return new BoatDataError('NO_PERMISSION', `No permission to write exports in ${dir} (${errorMessage(err)})`, 500);
    return err instanceof Error ? err : new Error(String(err));
}

/** A write to the export file failed: told apart from a failing source, which only spoils its own category. */
class ExportWriteFailure extends Error {
    constructor(override readonly cause: unknown) {
        super(errorMessage(cause));
    }
}

/**
 * Gathers small chunks into ~1 MB writes; each write is awaited, so a slow
 * disk slows the reader instead of filling memory. The text passes the
 * secret scrubber on its way, which holds back a few bytes between writes.
 * Where it goes is the sink's: the plain file at a position, or a
 * compressed part's stream.
 */
class BufferedWriter implements CategoryOutput {
    private pending: Buffer[] = [];
    private pendingLength = 0;
    private readonly scrubber: JsonTextScrubber;
    constructor(
        private readonly sink: (bytes: Buffer) => Promise<void>,
        secrets: string[] = [],
    ) {
        this.scrubber = new JsonTextScrubber(secrets);
    }

    async write(chunk: string | Buffer): Promise<void> {
        // Rows come as bytes (SQLite's JSON, never decoded); the frames around them are short strings.
        const piece = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        this.pending.push(piece);
        this.pendingLength += piece.length;
        if (this.pendingLength >= 1 << 20) await this.writeOut(false);
    }

    /** Everything written so far goes to the file: the end of the category. */
    flush(): Promise<void> {
        return this.writeOut(true);
    }

    private async writeOut(final: boolean): Promise<void> {
        if (this.pending.length === 0 && !final) return;
        const pieces = this.pending;
        this.pending = [];
        this.pendingLength = 0;
        let bytes = pieces.length > 0 ? this.scrubber.push(pieces) : Buffer.alloc(0);
        if (final && this.scrubber.active) {
            const rest = this.scrubber.end();
            if (rest.length > 0) bytes = Buffer.concat([bytes, rest]);
        }
        if (bytes.length === 0) return;
        try {
            await this.sink(bytes);
        } catch (err) {
            throw new ExportWriteFailure(err);
        }
    }

    async discard(): Promise<void> {
        this.pending = [];
        this.pendingLength = 0;
        this.scrubber.reset();
    }
}

/** Writes bytes into a plain export file from `position` on, and keeps where it has got to. */
class FileAt {
    constructor(
        private readonly handle: fs.FileHandle,
        public position: number,
    ) {}

    readonly put = async (buffer: Buffer): Promise<void> => {
        let offset = 0;
        while (offset < buffer.length) {
            const { bytesWritten } = await this.handle.write(buffer, offset, buffer.length - offset, this.position);
            offset += bytesWritten;
            this.position += bytesWritten;
        }
    };
}
