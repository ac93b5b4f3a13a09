import { promises as fs } from 'fs';
import * as path from 'path';
import { CATEGORY_KEYS } from '../categories';
import { BoatDataError, errorMessage } from '../errors';
import { FORMAT_VERSION } from '../export/export-file';
import type { QueueEntry } from '../queue/entries';

/** The d3kOS Python export service read its exports whole too; one bigger than this is not one of its files. */
const MAX_OLD_EXPORT_BYTES = 256 * 1024 * 1024;

/**
 * What to send for an export the d3kOS Python export service left in the queue, or null to send the file as
 * it is. That service wrote `{installation_id, format_version, export_timestamp, data: {boatlog: [...], settings:
 * {...}}}`: no export_id and no tier (its queue entry held the tier), categories as bare arrays. The central
 * ingest reads only the current export format, so the boat sends the same rows in it: export_id from the file
 * name (as the old service named it), tier from the queue entry, each list as `{entries}`, each object as
 * `{data}`. The file itself is left as it is. Only entries without a checksum are looked at: every export this
 * package queues has one, the old service's never did.
 */
export async function oldServiceExportBody(entry: Pick<QueueEntry, 'export_file' | 'export_id' | 'tier' | 'created_at' | 'sha256'>): Promise<Buffer | null> {
    if (entry.sha256) return null;
    const stat = await fs.stat(entry.export_file);
    if (stat.size > MAX_OLD_EXPORT_BYTES) return null;
    let doc: unknown;
    try {
        doc = JSON.parse(await fs.readFile(entry.export_file, 'utf8'));
    } catch (err) {
        throw new BoatDataError(
            'EXPORT_UNREADABLE',
            `the export file ${path.basename(entry.export_file)} left by the old export service is not readable JSON (${errorMessage(err)}); it was not uploaded`,
            422,
        );
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return null;
    const old = doc as Record<string, unknown>;
    const categories = (isObject(old.data) ? old.data : isObject(old.categories) ? old.categories : null) as Record<string, unknown> | null;
    if (typeof old.export_id === 'string' && Number.isInteger(old.tier) && categories && CATEGORY_KEYS.every((key) => isCurrentCategory(categories[key]))) return null;

    const data: Record<string, unknown> = {};
    for (const key of CATEGORY_KEYS) data[key] = asCategory(categories?.[key]);
    const current = {
        export_id: typeof old.export_id === 'string' && old.export_id ? old.export_id : entry.export_id,
        installation_id: old.installation_id,
        tier: Number.isInteger(old.tier) ? old.tier : entry.tier,
        format_version: FORMAT_VERSION,
        timestamp: stringOr(old.timestamp, old.export_timestamp, entry.created_at),
        export_timestamp: stringOr(old.export_timestamp, old.timestamp, entry.created_at),
        mode: 'full',
        data,
    };
    return Buffer.from(JSON.stringify(current));
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCurrentCategory(value: unknown): boolean {
    return isObject(value) && (Array.isArray(value.entries) || isObject(value.data));
}

/** A list of rows becomes `{entries}`; `{entries}` stays; any other object (settings, onboarding) becomes `{data}`. */
function asCategory(value: unknown): Record<string, unknown> {
    if (Array.isArray(value)) return { entries: value };
    if (isCurrentCategory(value)) return value as Record<string, unknown>;
    if (isObject(value)) return { data: value };
    return { entries: [] };
}

function stringOr(...values: unknown[]): string {
    return values.find((v): v is string => typeof v === 'string' && v !== '') ?? new Date().toISOString();
}
