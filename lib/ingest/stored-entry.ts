import type { CategoryKey } from '../categories';

/**
 * Fields the boat's databases keep as JSON text (SQLite has no JSON type), so an export carries them as a string
 * holding JSON: telemetry's `data`, a boatlog entry's weather, an alert's metrics, a capture's top three species.
 */
export const JSON_TEXT_FIELDS: Partial<Record<CategoryKey, string[]>> = {
    telemetry: ['data'],
    boatlog: ['weather_conditions'],
    system_alerts: ['metrics'],
    marine_vision_captures: ['species_top3'],
};

/** The same as (category, field) pairs, for the stores' migrations of rows stored before. */
export const JSON_TEXT_PAIRS: Array<[string, string]> = Object.entries(JSON_TEXT_FIELDS).flatMap(([category, fields]) => fields!.map((field): [string, string] => [category, field]));

/**
 * The entry as the central database stores it: a field of JSON text holding an object or an array is stored
 * as that object or array, so an operator's query reads `entry->'data'->>'rpm'` instead of parsing twice.
 * Only the stored entry changes; its row key was taken from the entry as sent. An entry that would not come
 * back byte for byte from parsing it (spaces, numbers past 2^53) is stored as sent, never altered in value.
 */
export function storedEntry(category: CategoryKey, entry: string): string {
    const fields = JSON_TEXT_FIELDS[category];
    if (!fields || !fields.some((field) => entry.includes(`"${field}":"`))) return entry;
    const parsed = JSON.parse(entry) as Record<string, unknown>;
    if (JSON.stringify(parsed) !== entry) return entry;
    let changed = false;
    for (const field of fields) {
        const value = parsed[field];
        if (typeof value !== 'string') continue;
        const start = value.trimStart()[0];
        if (start !== '{' && start !== '[') continue;
        try {
            parsed[field] = JSON.parse(value);
            changed = true;
        } catch {
            // Text that only looks like JSON stays text.
        }
    }
    return changed ? JSON.stringify(parsed) : entry;
}
