import * as fs from 'fs';
import * as path from 'path';
import { CATEGORY_KEYS } from '../../lib/categories';

/** Every export file under a folder, parsed; throws if any is not a complete export. */
export function readExports(dir: string): Array<{ file: string; text: string; json: any }> {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter((name) => /^export_.*\.json$/.test(name))
        .sort()
        .map((name) => {
            const file = path.join(dir, name);
            const text = fs.readFileSync(file, 'utf8');
            const json = JSON.parse(text);
            return { file, text, json };
        });
}

/** The checks every export file must pass, whatever it holds. */
export function assertCompleteExport(file: string, text: string, json: any): void {
    const problems: string[] = [];
    if (json.format_version !== '1.0') problems.push('format_version');
    if (json.timestamp !== json.export_timestamp) problems.push('timestamps differ');
    if (path.basename(file) !== `${json.export_id}.json`) problems.push('file name is not the export_id');
    for (const key of CATEGORY_KEYS) {
        if (!json.data || typeof json.data[key] !== 'object') problems.push(`category ${key} missing`);
        else if (json.data[key].category !== key) problems.push(`category ${key} mislabelled`);
    }
    if (json.statistics?.total_categories !== 9) problems.push('total_categories');
    if (json.statistics?.total_size_bytes !== Buffer.byteLength(text)) problems.push(`total_size_bytes ${json.statistics?.total_size_bytes} != ${Buffer.byteLength(text)}`);
    if (problems.length > 0) throw new Error(`${path.basename(file)}: ${problems.join(', ')}`);
}
