import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { CATEGORY_KEYS } from '../../lib/categories';
import { classOf } from '../../lib/queue/parts';

/** One stored file of an export, its text read back (decompressed when it is stored so). */
export interface ExportFileRead {
    file: string;
    text: string;
    json: any;
}

/** An export as it reads whole: its urgent file (or its one plain file), its parts, and their data merged. */
export interface ExportRead extends ExportFileRead {
    parts: ExportFileRead[];
}

/** The JSON text of an export file, however it is stored. */
export function plainText(file: string): string {
    const bytes = fs.readFileSync(file);
    if (file.endsWith('.json.br')) return zlib.brotliDecompressSync(bytes).toString('utf8');
    if (file.endsWith('.json.gz')) return zlib.gunzipSync(bytes).toString('utf8');
    return bytes.toString('utf8');
}

function readOne(file: string): ExportFileRead {
    const text = plainText(file);
    return { file, text, json: JSON.parse(text) };
}

/**
 * An export read whole from its file (or a finished export): a compressed
 * export's bulk part (`…-bulk.json.br` beside it) is read too and its
 * categories taken into the data, as the central side stores them.
 */
export function readExport(from: string | { export_file: string }): ExportRead {
    const file = typeof from === 'string' ? from : from.export_file;
    const main = readOne(file);
    const parts = [main];
    const bulkFile = file.replace(/\.json\.(br|gz)$/, '-bulk.json.$1');
    if (bulkFile !== file && fs.existsSync(bulkFile)) parts.push(readOne(bulkFile));
    const json = JSON.parse(main.text);
    for (const part of parts.slice(1)) {
        for (const key of CATEGORY_KEYS) if (classOf(key) === 'bulk') json.data[key] = part.json.data[key];
        json.statistics.categories_with_data += part.json.statistics.categories_with_data;
        json.statistics.total_size_bytes += part.json.statistics.total_size_bytes;
    }
    return { file, text: parts.map((p) => p.text).join('\n'), json, parts };
}

/** Every export under a folder, read whole (a compressed export's parts as one); throws if any file is not a complete export. */
export function readExports(dir: string): ExportRead[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter((name) => /^export_.*\.json(\.br|\.gz)?$/.test(name) && !/-bulk\.json\.(br|gz)$/.test(name))
        .sort()
        .map((name) => readExport(path.join(dir, name)));
}

/** The checks every export file must pass, whatever it holds: each stored part of an export read whole. */
export function assertCompleteExport(exp: ExportRead): void {
    for (const part of exp.parts) assertCompleteFile(part.file, part.text, part.json);
}

/** The checks every stored export file must pass, whatever it holds. */
export function assertCompleteFile(file: string, text: string, json: any): void {
    const problems: string[] = [];
    if (json.format_version !== '1.0') problems.push('format_version');
    if (json.timestamp !== json.export_timestamp) problems.push('timestamps differ');
    if (path.basename(file).replace(/\.json(\.br|\.gz)?$/, '') !== json.export_id) problems.push('file name is not the export_id');
    for (const key of CATEGORY_KEYS) {
        if (!json.data || typeof json.data[key] !== 'object') problems.push(`category ${key} missing`);
        else if (json.data[key].category !== key) problems.push(`category ${key} mislabelled`);
    }
    if (json.statistics?.total_categories !== 9) problems.push('total_categories');
    if (json.statistics?.total_size_bytes !== Buffer.byteLength(text)) problems.push(`total_size_bytes ${json.statistics?.total_size_bytes} != ${Buffer.byteLength(text)}`);
    if (problems.length > 0) throw new Error(`${path.basename(file)}: ${problems.join(', ')}`);
}

/** The stored file of an export in a folder, however it is stored (`<id>.json`, `.json.br` or `.json.gz`). */
export function exportFileOf(dir: string, exportId: string): string {
    for (const name of [`${exportId}.json.br`, `${exportId}.json.gz`, `${exportId}.json`]) if (fs.existsSync(path.join(dir, name))) return path.join(dir, name);
    throw new Error(`no export file for ${exportId} in ${dir}`);
}
