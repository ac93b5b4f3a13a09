import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { CATEGORY_KEYS } from '../categories';
import { BoatDataError } from '../errors';
import type { Connection } from './database';

export const FORMAT_VERSION = '1.0';

/** What the central side keeps about an export besides its rows. */
export interface ExportHeader {
    export_id: string;
    installation_id: string;
    format_version: string;
    mode: string | null;
    /** 1 to 3: a tier-0 boat never exports. */
    tier: number;
    export_timestamp: string | null;
    /** Rows in `entries` arrays plus `data` objects: what the export delivers. */
    records: number;
    /** Entries per category, as received. */
    categories: Record<string, number>;
}

interface TopLevel {
    type: string | null;
    export_id: unknown;
    export_id_type: string | null;
    installation_id: unknown;
    format_version: unknown;
    mode: unknown;
    tier: unknown;
    tier_type: string | null;
    export_timestamp: unknown;
    data_type: string | null;
}

interface CategoryShape {
    key: string;
    type: string;
    entries_type: string | null;
    entries: number | null;
    data_type: string | null;
}

/**
 * Checks the export held in `temp.upload` without bringing it into
 * JavaScript: SQLite parses it on the driver's thread. Every problem found
 * is named in one 400 answer, so a boat's installer fixes them in one go.
 */
export async function validateUpload(db: Connection): Promise<ExportHeader> {
    const parsed = await db.get<{ error_at: number }>('SELECT json_error_position(doc) AS error_at FROM temp.upload');
    if (parsed && parsed.error_at > 0) throw invalid(`the body is not valid JSON (error at character ${parsed.error_at})`);

    const top = await db.get<TopLevel>(
        `SELECT json_type(doc) AS type,
                json_extract(doc, '$.export_id') AS export_id, json_type(doc, '$.export_id') AS export_id_type,
                json_extract(doc, '$.installation_id') AS installation_id,
                json_extract(doc, '$.format_version') AS format_version,
                json_extract(doc, '$.mode') AS mode,
                json_extract(doc, '$.tier') AS tier, json_type(doc, '$.tier') AS tier_type,
                json_extract(doc, '$.export_timestamp') AS export_timestamp,
                json_type(doc, '$.data') AS data_type
         FROM temp.upload`,
    );
    if (!top || top.type !== 'object') throw invalid('the body is JSON but not an export object');

    const problems: string[] = [];
    if (top.format_version !== FORMAT_VERSION) {
        problems.push(top.format_version == null ? 'format_version is missing' : `format_version ${JSON.stringify(top.format_version)} is not supported (this ingest reads "${FORMAT_VERSION}")`);
    }
    if (typeof top.installation_id !== 'string' || !INSTALLATION_ID_PATTERN.test(top.installation_id)) {
        problems.push(top.installation_id == null ? 'installation_id is missing' : `installation_id ${JSON.stringify(top.installation_id)} is not 16 hexadecimal characters`);
    }
    if (top.export_id_type !== 'text' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(String(top.export_id))) {
        problems.push(top.export_id == null ? 'export_id is missing' : 'export_id must be up to 128 letters, digits, "_", "-", "." or ":"');
    }
    if (top.mode != null && top.mode !== 'full' && top.mode !== 'incremental') problems.push(`mode ${JSON.stringify(top.mode)} is neither "full" nor "incremental"`);
    const tierProblem = checkTier(top);
    if (tierProblem) problems.push(tierProblem);

    const categories: Record<string, number> = {};
    let records = 0;
    if (top.data_type !== 'object') {
        problems.push(top.data_type == null ? 'data is missing' : 'data is not an object of categories');
    } else {
        const shapes = await db.all<CategoryShape>(
            `SELECT c.key AS key, c.type AS type,
                    json_type(c.value, '$.entries') AS entries_type, json_array_length(c.value, '$.entries') AS entries,
                    json_type(c.value, '$.data') AS data_type
             FROM temp.upload AS u, json_each(u.doc, '$.data') AS c`,
        );
        const byKey = new Map(shapes.map((shape) => [shape.key, shape]));
        for (const key of CATEGORY_KEYS) {
            const shape = byKey.get(key);
            if (!shape) {
                problems.push(`data.${key} is missing (an export carries all nine categories)`);
            } else if (shape.type !== 'object') {
                problems.push(`data.${key} is not an object`);
            } else if (shape.entries_type != null && shape.entries_type !== 'array') {
                problems.push(`data.${key}.entries is not an array`);
            } else if (shape.entries_type == null && shape.data_type !== 'object') {
                problems.push(`data.${key} has neither an entries array nor a data object`);
            } else {
                categories[key] = shape.entries ?? 0;
                records += (shape.entries ?? 0) + (shape.data_type === 'object' ? 1 : 0);
            }
        }
    }
    if (problems.length > 0) throw invalid(`the export is not valid: ${problems.join('; ')}`);

    return {
        export_id: String(top.export_id),
        installation_id: String(top.installation_id).toLowerCase(),
        format_version: FORMAT_VERSION,
        mode: typeof top.mode === 'string' ? top.mode : null,
        tier: Number(top.tier),
        export_timestamp: typeof top.export_timestamp === 'string' ? top.export_timestamp : null,
        records,
        categories,
    };
}

/** A boat exports at tier 1, 2 or 3; tier 0 has no export path at all, and anything outside 0..3 is no tier. */
function checkTier(top: TopLevel): string | undefined {
    if (top.tier_type == null) return 'tier is missing';
    if (top.tier_type !== 'integer') return `tier ${JSON.stringify(top.tier)} is not a whole number`;
    if (top.tier === 0) return 'tier 0 never exports: a tier-0 boat has no export path';
    if (typeof top.tier !== 'number' || top.tier < 1 || top.tier > 3) return `tier ${top.tier} is not a tier that exports (1, 2 or 3)`;
    return undefined;
}

function invalid(message: string): BoatDataError {
    return new BoatDataError('EXPORT_INVALID', message, 400);
}
