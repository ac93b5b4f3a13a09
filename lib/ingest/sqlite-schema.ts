import { JSON_TEXT_PAIRS } from './stored-entry';

/**
 * Migration 3 of the SQLite store: the same per-category views as PostgreSQL's (lib/ingest/postgres-schema.ts),
 * with json_extract; times stay text as the boat wrote them (SQLite has no time type, and no comments:
 * docs/central-database.md describes the columns). JSON text fields inside rows already stored become JSON,
 * as new imports store them.
 */

const parseJsonText = ([category, field]: [string, string]) => `
    UPDATE category_rows SET entry = json_set(entry, '$.${field}', json(json_extract(entry, '$.${field}'))),
        entry_bytes = length(CAST(json_set(entry, '$.${field}', json(json_extract(entry, '$.${field}'))) AS BLOB))
    WHERE category = '${category}' AND json_type(entry, '$.${field}') = 'text' AND json_valid(json_extract(entry, '$.${field}'))
      AND substr(ltrim(json_extract(entry, '$.${field}')), 1, 1) IN ('{', '[');`;

const VIEWS: Record<string, string> = {
    boatlog: `row_key AS entry_id, json_extract(entry, '$.timestamp') AS entry_time, json_extract(entry, '$.entry_type') AS entry_type,
        json_extract(entry, '$.content') AS content, json_extract(entry, '$.latitude') AS latitude, json_extract(entry, '$.longitude') AS longitude,
        json_extract(entry, '$.weather_conditions') AS weather`,
    telemetry: `row_key AS event_id, json_extract(entry, '$.timestamp') AS event_time, json_extract(entry, '$.event_type') AS event_type,
        json_extract(entry, '$.data.rpm') AS rpm, json_extract(entry, '$.data.coolant_c') AS coolant_c, json_extract(entry, '$.data.oil_kpa') AS oil_kpa,
        json_extract(entry, '$.data.cpu_percent') AS cpu_percent, json_extract(entry, '$.data.memory_percent') AS memory_percent,
        json_extract(entry, '$.data.cpu_temp_c') AS cpu_temp_c, json_extract(entry, '$.data.latency_ms') AS latency_ms, json_extract(entry, '$.data') AS data`,
    system_alerts: `json_extract(entry, '$.source') AS source, json_extract(entry, '$.id') AS alert_id, json_extract(entry, '$.timestamp') AS alert_time,
        json_extract(entry, '$.category') AS alert_category, json_extract(entry, '$.severity') AS severity, json_extract(entry, '$.description') AS description,
        json_extract(entry, '$.status') AS status, json_extract(entry, '$.resolved_at') AS resolved_at,
        json_extract(entry, '$.remediation_action') AS remediation_action, json_extract(entry, '$.metrics') AS metrics`,
    marine_vision_captures: `row_key AS capture_id, json_extract(entry, '$.timestamp') AS capture_time, json_extract(entry, '$.person_detected') AS person_detected,
        json_extract(entry, '$.fish_detected') AS fish_detected, json_extract(entry, '$.person_confidence') AS person_confidence,
        json_extract(entry, '$.fish_confidence') AS fish_confidence, json_extract(entry, '$.species') AS species,
        json_extract(entry, '$.species_confidence') AS species_confidence, json_extract(entry, '$.species_top3') AS species_top3,
        json_extract(entry, '$.location') AS location`,
};

export const SQLITE_QUERYABLE_SQL = `
    ${JSON_TEXT_PAIRS.map(parseJsonText).join('\n')}
    -- Retention deletes a category's oldest rows a batch at a time.
    CREATE INDEX category_rows_by_age ON category_rows (category, exported_at);
    CREATE TABLE erased_devices (token_sha256 TEXT PRIMARY KEY, erased_at TEXT NOT NULL);
    ${Object.entries(VIEWS)
        .map(([name, select]) => `CREATE VIEW ${name} AS SELECT installation_id, ${select}, export_id, exported_at, entry FROM category_rows WHERE category = '${name}';`)
        .join('\n')}`;
