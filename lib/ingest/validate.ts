import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { CATEGORY_KEYS } from '../categories';
import { BoatDataError } from '../errors';
import type { ExportShape } from './export-parser';

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

/** Who the export is from and which it is: known before its rows, since a boat writes them first. */
export interface ExportIdentity {
    export_id: string;
    installation_id: string;
    export_timestamp: string | null;
}

const EXPORT_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Checks the fields that must be known before any row is stored, when the
 * export's `data` begins. Every problem among the fields seen is named.
 */
export function checkIdentity(shape: ExportShape): ExportIdentity {
    const problems = headerProblems(shape);
    if (!shape.header.has('installation_id') || !shape.header.has('export_id')) {
        problems.push('export_id and installation_id must come before data, as a d3kOS boat writes them');
    }
    if (problems.length > 0) throw invalid(`the export is not valid: ${problems.join('; ')}`);
    const stamp = shape.header.get('export_timestamp')?.value;
    return {
        export_id: String(shape.header.get('export_id')!.value),
        installation_id: String(shape.header.get('installation_id')!.value).toLowerCase(),
        export_timestamp: typeof stamp === 'string' ? stamp : null,
    };
}

/**
 * Checks the whole export once it has been read. Every problem found is
 * named in one 400 answer, so a boat's installer fixes them in one go.
 */
export function checkExport(shape: ExportShape): ExportHeader {
    if (shape.topType !== 'object') throw invalid('the body is JSON but not an export object');
    const field = (name: string) => shape.header.get(name);
    const problems = headerProblems(shape);
    const formatVersion = field('format_version')?.value;
    if (formatVersion !== FORMAT_VERSION) {
        problems.push(formatVersion == null ? 'format_version is missing' : `format_version ${JSON.stringify(formatVersion)} is not supported (this ingest reads "${FORMAT_VERSION}")`);
    }
    if (!field('installation_id')) problems.push('installation_id is missing');
    if (!field('export_id')) problems.push('export_id is missing');
    const mode = field('mode')?.value;
    if (mode != null && mode !== 'full' && mode !== 'incremental') problems.push(`mode ${JSON.stringify(mode)} is neither "full" nor "incremental"`);
    const tierProblem = checkTier(shape);
    if (tierProblem) problems.push(tierProblem);

    const categories: Record<string, number> = {};
    let records = 0;
    if (shape.dataType !== 'object') {
        problems.push(shape.dataType == null ? 'data is missing' : 'data is not an object of categories');
    } else {
        for (const key of CATEGORY_KEYS) {
            const category = shape.categories.get(key);
            if (!category) {
                problems.push(`data.${key} is missing (an export carries all nine categories)`);
            } else if (category.type !== 'object') {
                problems.push(`data.${key} is not an object`);
            } else if (category.entriesType != null && category.entriesType !== 'array') {
                problems.push(`data.${key}.entries is not an array`);
            } else if (category.entriesType == null && category.dataType !== 'object') {
                problems.push(`data.${key} has neither an entries array nor a data object`);
            } else {
                categories[key] = category.entries;
                records += category.entries + (category.dataType === 'object' ? 1 : 0);
            }
        }
    }
    if (problems.length > 0) throw invalid(`the export is not valid: ${problems.join('; ')}`);

    const stamp = field('export_timestamp')?.value;
    return {
        export_id: String(field('export_id')!.value),
        installation_id: String(field('installation_id')!.value).toLowerCase(),
        format_version: FORMAT_VERSION,
        mode: typeof mode === 'string' ? mode : null,
        tier: Number(field('tier')!.value),
        export_timestamp: typeof stamp === 'string' ? stamp : null,
        records,
        categories,
    };
}

/** Problems of the identifying fields that are present (a missing one is named by the caller). */
function headerProblems(shape: ExportShape): string[] {
    const problems: string[] = [];
    const installation = shape.header.get('installation_id');
    if (installation && (installation.type !== 'text' || !INSTALLATION_ID_PATTERN.test(String(installation.value)))) {
        problems.push(installation.value == null ? 'installation_id is missing' : `installation_id ${JSON.stringify(installation.value)} is not 16 hexadecimal characters`);
    }
    const exportId = shape.header.get('export_id');
    if (exportId && (exportId.type !== 'text' || !EXPORT_ID_PATTERN.test(String(exportId.value)))) {
        problems.push(exportId.value == null ? 'export_id is missing' : 'export_id must be up to 128 letters, digits, "_", "-", "." or ":"');
    }
    return problems;
}

/** A boat exports at tier 1, 2 or 3; tier 0 has no export path at all, and anything outside 0..3 is no tier. */
function checkTier(shape: ExportShape): string | undefined {
    const tier = shape.header.get('tier');
    if (!tier || tier.type === 'null') return 'tier is missing';
    if (tier.type !== 'integer') return `tier ${JSON.stringify(tier.value)} is not a whole number`;
    if (tier.value === 0) return 'tier 0 never exports: a tier-0 boat has no export path';
    if (typeof tier.value !== 'number' || tier.value < 1 || tier.value > 3) return `tier ${tier.value} is not a tier that exports (1, 2 or 3)`;
    return undefined;
}

function invalid(message: string): BoatDataError {
    return new BoatDataError('EXPORT_INVALID', message, 400);
}
