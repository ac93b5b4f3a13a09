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
 */
const KEY_FIELDS: Partial<Record<CategoryKey, string[]>> = {
    boatlog: ['entry_id'],
    marine_vision_captures: ['id'],
    marine_vision_snapshots: ['filename'],
    qr_codes: ['id', 'code_id', 'code'],
    engine_benchmark: ['id'],
    telemetry: ['id'],
};

/** An entry of json_each as JSON text: objects and arrays come as JSON already, scalars need quoting. */
export const ENTRY_JSON_SQL = `CASE e.type WHEN 'object' THEN e.value WHEN 'array' THEN e.value
    WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' ELSE json_quote(e.value) END`;

/**
 * The row key of entry `e` (a json_each row) in category `c` (the json_each
 * row of its category), as SQL. Numbers and text compare as text, so an
 * entry_id 7 and "7" are one row.
 */
export function rowKeySql(): string {
    const field = (name: string) => `nullif(CAST(json_extract(e.value, '$.${name}') AS TEXT), '')`;
    const cases = Object.entries(KEY_FIELDS).map(([category, fields]) => `WHEN '${category}' THEN ${fields.length > 1 ? `coalesce(${fields.map(field).join(', ')})` : field(fields[0])}`);
    const alert = `CASE WHEN json_extract(e.value, '$.id') IS NOT NULL THEN coalesce(json_extract(e.value, '$.source'), 'alerts') || ':' || ${field('id')} END`;
    const natural = `CASE WHEN e.type = 'object' THEN CASE c.key ${cases.join(' ')} WHEN 'system_alerts' THEN ${alert} END END`;
    return `coalesce(${natural}, 'content:' || ${ENTRY_JSON_SQL})`;
}
