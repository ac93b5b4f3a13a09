import * as crypto from 'crypto';

/** The nine categories of an export, in the order the export file lists them. */
export const CATEGORY_KEYS = ['engine_benchmark', 'boatlog', 'marine_vision_captures', 'marine_vision_snapshots', 'qr_codes', 'settings', 'system_alerts', 'onboarding', 'telemetry'] as const;

export type CategoryKey = (typeof CATEGORY_KEYS)[number];

export function isCategoryKey(value: unknown): value is CategoryKey {
    return typeof value === 'string' && (CATEGORY_KEYS as readonly string[]).includes(value);
}

/**
 * The field that identifies a row of a category across exports. The central
 * side upserts rows on (installation_id, category, row key), so overlapping
 * incremental exports never store a row twice.
 */
const ROW_KEY_FIELDS: Partial<Record<CategoryKey, string[]>> = {
    engine_benchmark: ['id'],
    boatlog: ['entry_id'],
    marine_vision_captures: ['id'],
    marine_vision_snapshots: ['filename'],
    qr_codes: ['id', 'code_id', 'code'],
    system_alerts: ['source', 'id'],
    telemetry: ['id'],
};

/** A stable key for one exported row; rows with no natural key are keyed by their content. */
export function rowKey(category: CategoryKey, entry: unknown): string {
    const fields = ROW_KEY_FIELDS[category] ?? [];
    if (typeof entry === 'object' && entry !== null) {
        const record = entry as Record<string, unknown>;
        if (category === 'system_alerts') {
            if (record.id !== undefined && record.id !== null) return `${String(record.source ?? 'alerts')}:${String(record.id)}`;
        } else {
            for (const field of fields) {
                const value = record[field];
                if (value !== undefined && value !== null && value !== '') return String(value);
            }
        }
    }
    return 'sha256:' + crypto.createHash('sha256').update(JSON.stringify(entry)).digest('hex');
}
