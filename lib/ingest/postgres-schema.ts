import { JSON_TEXT_PAIRS } from './stored-entry';

/**
 * Migration 2 of the PostgreSQL store: the schema an operator queries with psql or Grafana. Rows become jsonb,
 * times timestamptz, the JSON text fields inside rows (telemetry's `data`, …) JSON; each category gets a view
 * with typed columns; every table, view, column and function says what it holds. Applied in place, rows kept.
 */

const time = (column: string, fallback = "'-infinity'") => `${column} TYPE timestamptz USING coalesce(d3kos_time(${column}), ${fallback})`;

const parseJsonText = ([category, field]: [string, string]) => `
    UPDATE category_rows SET entry = jsonb_set(entry, '{${field}}', d3kos_json_or_null(entry->>'${field}'))
    WHERE category = '${category}' AND jsonb_typeof(entry->'${field}') = 'string'
      AND jsonb_typeof(d3kos_json_or_null(entry->>'${field}')) IN ('object', 'array');`;

/** The columns every category view starts and ends with. */
const HEAD = 'installation_id';
const TAIL = 'export_id, exported_at, entry';

const VIEWS: Array<{ name: string; about: string; select: string; columns: Record<string, string> }> = [
    {
        name: 'boatlog',
        about: "The boat's log book: one row per entry the crew or the boat wrote.",
        select: `row_key AS entry_id, d3kos_time(entry->>'timestamp') AS entry_time, entry->>'entry_type' AS entry_type, entry->>'content' AS content,
            d3kos_number(entry->'latitude') AS latitude, d3kos_number(entry->'longitude') AS longitude, entry->'weather_conditions' AS weather`,
        columns: {
            entry_id: "The entry's id on the boat (an integer on older boats, a UUID on newer ones).",
            entry_time: 'When the entry was written on the boat (its timestamp; a time without a zone is read in the session time zone).',
            entry_type: 'What kind of entry: manual, auto, voice, …',
            content: "The entry's text.",
            latitude: 'Where the boat was, degrees north (null when the entry has no position).',
            longitude: 'Where the boat was, degrees east (null when the entry has no position).',
            weather: 'The weather the entry recorded (wind_kn, wind_dir, pressure_hpa, …), as JSON; null when none.',
        },
    },
    {
        name: 'telemetry',
        about: "The boat's telemetry events, with the numeric channels the d3kOS engine and system monitors write as columns; the rest stays in data.",
        select: `row_key AS event_id, d3kos_time(entry->>'timestamp') AS event_time, entry->>'event_type' AS event_type,
            d3kos_number(entry->'data'->'rpm') AS rpm, d3kos_number(entry->'data'->'coolant_c') AS coolant_c, d3kos_number(entry->'data'->'oil_kpa') AS oil_kpa,
            d3kos_number(entry->'data'->'cpu_percent') AS cpu_percent, d3kos_number(entry->'data'->'memory_percent') AS memory_percent,
            d3kos_number(entry->'data'->'cpu_temp_c') AS cpu_temp_c, d3kos_number(entry->'data'->'latency_ms') AS latency_ms,
            entry->'data' AS data`,
        columns: {
            event_id: "The event's id on the boat.",
            event_time: 'When the event happened on the boat.',
            event_type: 'engine, system, ui_interaction, ai_query, …',
            rpm: 'Engine speed, revolutions per minute (engine events).',
            coolant_c: 'Engine coolant temperature, °C (engine events).',
            oil_kpa: 'Engine oil pressure, kPa (engine events).',
            cpu_percent: "The helm computer's CPU load, % (system events).",
            memory_percent: "The helm computer's memory in use, % (system events).",
            cpu_temp_c: "The helm computer's CPU temperature, °C (system events).",
            latency_ms: 'How long the assistant took to answer, ms (ai_query events).',
            data: "The event's whole data object, as JSON: every channel, those without a column too.",
        },
    },
    {
        name: 'system_alerts',
        about: 'Alerts the boat raised about itself: self-healing issues (issues.db) and the alerts list (alerts.json).',
        select: `entry->>'source' AS source, entry->>'id' AS alert_id, d3kos_time(entry->>'timestamp') AS alert_time, entry->>'category' AS alert_category,
            entry->>'severity' AS severity, entry->>'description' AS description, entry->>'status' AS status,
            d3kos_time(entry->>'resolved_at') AS resolved_at, entry->>'remediation_action' AS remediation_action, entry->'metrics' AS metrics`,
        columns: {
            source: 'Where the boat keeps the alert: issues.db or alerts.json.',
            alert_id: "The alert's id within its source.",
            alert_time: 'When the alert was raised on the boat.',
            alert_category: 'What the alert is about: memory, disk, service, …',
            severity: 'info, warning or critical.',
            description: "The alert's text.",
            status: 'open or resolved.',
            resolved_at: 'When it was resolved (null while open).',
            remediation_action: 'What the boat did about it (restart_service, …).',
            metrics: 'The figures the boat measured when it raised the alert, as JSON.',
        },
    },
    {
        name: 'marine_vision_captures',
        about: "What the boat's camera detected: one row per capture (the image stays on the boat).",
        select: `row_key AS capture_id, d3kos_time(entry->>'timestamp') AS capture_time, d3kos_flag(entry->'person_detected') AS person_detected,
            d3kos_flag(entry->'fish_detected') AS fish_detected, d3kos_number(entry->'person_confidence') AS person_confidence,
            d3kos_number(entry->'fish_confidence') AS fish_confidence, entry->>'species' AS species, d3kos_number(entry->'species_confidence') AS species_confidence,
            entry->'species_top3' AS species_top3, entry->>'location' AS location`,
        columns: {
            capture_id: "The capture's id on the boat.",
            capture_time: 'When the camera took it.',
            person_detected: 'A person was seen.',
            fish_detected: 'A fish was seen.',
            person_confidence: 'How sure the detector was of the person, 0 to 1.',
            fish_confidence: 'How sure the detector was of the fish, 0 to 1.',
            species: 'The species the boat named.',
            species_confidence: 'How sure it was of the species, 0 to 1.',
            species_top3: 'The three likeliest species, as JSON.',
            location: 'Where, as the boat wrote it ("lat,lon").',
        },
    },
];

const VIEW_COMMON_COLUMNS: Record<string, string> = {
    installation_id: 'The boat (16 hexadecimal characters, its d3kOS installation_id).',
    export_id: 'The export that stored this row last.',
    exported_at: 'When the boat made that export.',
    entry: 'The whole row as the boat sent it, as JSON.',
};

const TABLES: Record<string, { about: string; columns: Record<string, string> }> = {
    imported_exports: {
        about: 'Every export a boat sent and this database stored, once per (installation_id, export_id).',
        columns: {
            installation_id: 'The boat that sent it.',
            export_id: "The export's id, as the boat named it (the boat's Idempotency-Key).",
            import_id: 'The id this database gave the import (imp_…), answered to the boat.',
            mode: 'full or incremental.',
            tier: "The boat's d3kOS tier when it exported.",
            format_version: "The export file's format version.",
            exported_at: 'When the boat made the export.',
            imported_at: 'When this database stored it.',
            records_imported: 'Rows and data objects the export held.',
            body_bytes: 'Bytes of the upload as sent (gzip).',
            categories: 'Entries per category, as the export counted them (JSON).',
        },
    },
    category_rows: {
        about: 'The current rows of every category of every boat, once per (installation_id, category, row_key); the views boatlog, telemetry, system_alerts and marine_vision_captures read them with typed columns.',
        columns: {
            seq: 'Arrival order (a page of rows is read after a seq).',
            installation_id: 'The boat.',
            category: 'The category: boatlog, telemetry, system_alerts, marine_vision_captures, marine_vision_snapshots, qr_codes, engine_benchmark.',
            row_key: 'What identifies the row across exports (entry_id, id, filename, …; content:<json> for a row with none).',
            entry: 'The row as the boat sent it, as JSON; JSON text fields inside it (telemetry data, …) as JSON too.',
            entry_bytes: 'Bytes of the row as sent.',
            export_id: 'The export that stored the row last (a newer export overwrites it, an older never).',
            exported_at: 'When the boat made that export; retention goes by it.',
        },
    },
    category_data: {
        about: 'The current data object of each category that has one (settings, onboarding, telemetry system_snapshot, engine baseline), per boat.',
        columns: {
            installation_id: 'The boat.',
            category: 'The category the object belongs to.',
            data: 'The object, as JSON.',
            export_id: 'The export it came with.',
            exported_at: 'When the boat made that export.',
        },
    },
    installations: {
        about: 'Every boat this database has stored an export from, with its figures kept as imports commit.',
        columns: {
            installation_id: 'The boat.',
            export_count: 'Exports stored from it.',
            records_imported: 'Rows and data objects those exports held.',
            first_import_at: 'When its first export was stored.',
            last_import_at: 'When its newest export was stored: its last contact with the central side.',
            last_export_id: 'The export_id of that newest export.',
        },
    },
    category_counts: {
        about: 'Rows stored per boat and category (what category_rows holds, counted as imports commit and retention deletes).',
        columns: { installation_id: 'The boat.', category: 'The category.', rows: 'Rows stored.' },
    },
    failed_imports: {
        about: 'Imports refused after their boat was let in (a bad export, too large, a database error), until the same export is stored.',
        columns: {
            installation_id: 'The boat.',
            export_id: 'The export that was refused.',
            failed_at: 'When it was last refused.',
            status: 'The HTTP status the boat was answered.',
            error: 'Why, in words.',
            attempts: 'How often it was refused.',
        },
    },
    erased_devices: {
        about: 'Device tokens of boats an operator erased, as sha256 only, so a later upload with one is refused naming why; the boat itself is not named.',
        columns: { token_sha256: 'sha256 of the device token, hex.', erased_at: 'When the boat was erased.' },
    },
    schema_versions: {
        about: 'The migrations applied to this database.',
        columns: { version: 'The migration.', applied_at: 'When it was applied.' },
    },
};

const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;

function comments(): string {
    const lines: string[] = [];
    for (const [table, { about, columns }] of Object.entries(TABLES)) {
        lines.push(`COMMENT ON TABLE ${table} IS ${quote(about)};`);
        for (const [column, text] of Object.entries(columns)) lines.push(`COMMENT ON COLUMN ${table}.${column} IS ${quote(text)};`);
    }
    for (const view of VIEWS) {
        lines.push(`COMMENT ON VIEW ${view.name} IS ${quote(view.about)};`);
        for (const [column, text] of Object.entries({ ...view.columns, ...VIEW_COMMON_COLUMNS })) lines.push(`COMMENT ON COLUMN ${view.name}.${column} IS ${quote(text)};`);
    }
    return lines.join('\n');
}

export const QUERYABLE_SCHEMA_SQL = `
    CREATE FUNCTION d3kos_time(value text) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
        BEGIN RETURN value::timestamptz; EXCEPTION WHEN others THEN RETURN NULL; END $$;
    COMMENT ON FUNCTION d3kos_time(text) IS 'A boat''s time text as timestamptz; null when it is not a time (one bad row never fails a query).';
    CREATE FUNCTION d3kos_json_or_null(value text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN RETURN value::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$;
    COMMENT ON FUNCTION d3kos_json_or_null(text) IS 'Text holding JSON as jsonb; null when it is not JSON.';
    CREATE FUNCTION d3kos_number(value jsonb) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN jsonb_typeof(value) = 'number' THEN (value #>> '{}')::double precision
                    WHEN jsonb_typeof(value) = 'string' AND (value #>> '{}') ~ '^\\s*-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$' THEN (value #>> '{}')::double precision END $$;
    COMMENT ON FUNCTION d3kos_number(jsonb) IS 'A JSON number (or a string holding one) as double precision; null otherwise.';
    CREATE FUNCTION d3kos_flag(value jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE jsonb_typeof(value) WHEN 'boolean' THEN (value #>> '{}')::boolean WHEN 'number' THEN (value #>> '{}')::double precision <> 0 END $$;
    COMMENT ON FUNCTION d3kos_flag(jsonb) IS 'A JSON boolean, or SQLite''s 0/1, as boolean; null otherwise.';

    ALTER TABLE category_rows ALTER COLUMN entry TYPE jsonb USING entry::jsonb, ALTER COLUMN ${time('exported_at')};
    ${JSON_TEXT_PAIRS.map(parseJsonText).join('\n')}
    ALTER TABLE imported_exports ALTER COLUMN imported_at TYPE timestamptz USING imported_at::timestamptz,
        ALTER COLUMN ${time('exported_at', 'imported_at::timestamptz')}, ALTER COLUMN categories TYPE jsonb USING categories::jsonb;
    ALTER TABLE category_data ALTER COLUMN data TYPE jsonb USING data::jsonb, ALTER COLUMN ${time('exported_at')};
    ALTER TABLE installations ALTER COLUMN first_import_at TYPE timestamptz USING first_import_at::timestamptz,
        ALTER COLUMN last_import_at TYPE timestamptz USING last_import_at::timestamptz;
    ALTER TABLE failed_imports ALTER COLUMN failed_at TYPE timestamptz USING failed_at::timestamptz;
    -- Retention deletes a category's oldest rows a batch at a time.
    CREATE INDEX category_rows_by_age ON category_rows (category, exported_at);
    CREATE TABLE erased_devices (token_sha256 text PRIMARY KEY, erased_at timestamptz NOT NULL);
    ${VIEWS.map((view) => `CREATE VIEW ${view.name} AS SELECT ${HEAD}, ${view.select}, ${TAIL} FROM category_rows WHERE category = '${view.name}';`).join('\n')}
    ${comments()}`;

/** The views and their columns, for the SQLite store's own views and the documentation test. */
export const CATEGORY_VIEWS = VIEWS;
