import type { CategoryKey } from '../categories';

/**
 * The key that identifies a row of a category across exports, as the boat's
 * collectors emit it (lib/collect/*.ts). Rows are upserted on
 * (installation_id, category, row key), so overlapping incremental exports
 * and a resent export never store a row twice.
 *
 * - boatlog: entry_id (an integer on older boats, a UUID on newer ones)
 * - captures, telemetry, engine benchmark tests: id
 * - snapshots: filename, the name within the media folder (never a disk path)
 * - QR codes: id, else code_id, else code
 * - system alerts: source and id (issues.db rows and alerts.json entries
 *   number themselves independently)
 * Entries without such a field are keyed by their content.
 *
 * The keys are the ones the SQLite-only ingest computed in SQL before (an entry_id 7 and "7" are one row,
 * true is "1"), so a database from then takes new exports of the same rows as the same rows.
 */
const KEY_FIELDS: Partial<Record<CategoryKey, string[]>> = {
    boatlog: ['entry_id'],
    marine_vision_captures: ['id'],
    marine_vision_snapshots: ['filename'],
    qr_codes: ['id', 'code_id', 'code'],
    engine_benchmark: ['id'],
    telemetry: ['id'],
    system_alerts: ['source', 'id'],
};

/** The fields of an entry of `category` its row key is made of. */
export function keyFieldsOf(category: CategoryKey): string[] {
    return KEY_FIELDS[category] ?? [];
}

/**
 * The row key of an entry: `found` holds the key fields' scalar values as text (null for JSON null),
 * `entry` the entry as minified JSON, the key of an entry with none of its fields.
 */
export function rowKeyOf(category: CategoryKey, object: boolean, found: Map<string, string | null>, entry: string): string {
    if (object) {
        if (category === 'system_alerts') {
            const id = found.get('id');
            if (id != null && id !== '') return `${found.get('source') ?? 'alerts'}:${id}`;
        } else {
            for (const field of keyFieldsOf(category)) {
                const value = found.get(field);
                if (value != null && value !== '') return value;
            }
        }
    }
    return `content:${entry}`;
}
