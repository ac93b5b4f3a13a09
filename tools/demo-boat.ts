import { promises as fs } from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import sqlite3 from 'sqlite3';
import { boatLayout, BoatLayout } from '../lib/boat/layout';

export interface DemoBoatOptions {
    /** Folder to create, shaped like /opt/d3kos. */
    root: string;
    /** Default: a sibling of root named `<root name>-camera-recordings`. */
    mediaDir?: string;
    /** Default: `<root>/backups`. */
    backupDir?: string;
    tier?: 0 | 1 | 2 | 3;
    /** 16 hex characters. */
    installationId?: string;
    /** Never fewer than the awkward rows, which are always written first. */
    boatlogRows?: number;
    telemetryRows?: number;
    captureRows?: number;
    issueRows?: number;
    /** Tiny .jpg/.mp4 files, every other one under `captures/`. */
    mediaFiles?: number;
    /** The captures table of an older boat: no species_top3, location, slot_id, gemini_species, gemini_response. */
    oldCapturesSchema?: boolean;
    /** UUID text entry_ids (default) or an integer primary key. */
    uuidBoatlogIds?: boolean;
    /** Row timestamps increase from here. */
    startTime?: Date;
    /** Media mtimes are spread over the 30 days before this instant. Default: the current time. */
    now?: Date;
}

export interface DemoBoat {
    root: string;
    mediaDir: string;
    backupDir: string;
    installationId: string;
    tier: number;
    layout: BoatLayout;
    /** Every secret value planted on the boat: none may ever appear in an export, log line or manifest. */
    secrets: string[];
    /** The awkward boatlog contents, exactly as stored. */
    awkwardTexts: string[];
}

/** Boatlog contents that trip up CSV writers, spreadsheets, JSON encoders and HTML. */
export const AWKWARD_TEXTS: readonly string[] = [
    'Anchored off "Smuggler\'s Cove", 3 shackles out, holding well',
    'Line one\r\nline two\nline three\rline four',
    'Wind NW 15 kn, gusting 22; reefed main, course 270',
    'Dolphins! 🐬🐬 and a sunfish 🐟 — Ångström, Ærø, Škoda, 東京, עברית, 𝄞, e\u0301, zero\u200Bwidth',
    '=HYPERLINK("http://example.invalid","click")',
    '+SUM(A1:A9)',
    '-2+3',
    '@cmd',
    '\tTabbed start',
    '\rCarriage start',
    '',
    'Backslashes C:\\new\\table, \\u0000 spelled out, </script><b>bold</b>, line\u2028separator, para\u2029graph',
    'Long passage notes: ' + 'steady westerly, engine off, hand steering. '.repeat(230),
];

const DEFAULTS = {
    tier: 2 as const,
    installationId: 'd3c0de5eab0a7001',
    boatlogRows: 50,
    telemetryRows: 200,
    captureRows: 20,
    issueRows: 10,
    mediaFiles: 10,
    startTime: new Date('2026-11-01T00:00:00Z'),
};

/**
 * Builds a /opt/d3kos-shaped folder with every data source of a d3kOS boat
 * (SPEC §2), at the scale asked for: the data the tests, `npm start` and the
 * benchmarks run on. Same options, same contents (media mtimes follow
 * `now`). Files the builder owns are replaced; databases are rebuilt from
 * scratch, so building twice over one root gives the same boat.
 */
export async function buildDemoBoat(options: DemoBoatOptions): Promise<DemoBoat> {
    const root = path.resolve(options.root);
    const mediaDir = path.resolve(options.mediaDir ?? path.join(path.dirname(root), `${path.basename(root)}-camera-recordings`));
    const backupDir = path.resolve(options.backupDir ?? path.join(root, 'backups'));
    const tier = options.tier ?? DEFAULTS.tier;
    const installationId = options.installationId ?? DEFAULTS.installationId;
    if (![0, 1, 2, 3].includes(tier)) throw new Error(`tier must be 0, 1, 2 or 3, not ${JSON.stringify(tier)}`);
    if (!/^[0-9a-f]{16}$/i.test(installationId)) throw new Error(`installationId must be 16 hexadecimal characters, not ${JSON.stringify(installationId)}`);
    const count = (name: 'boatlogRows' | 'telemetryRows' | 'captureRows' | 'issueRows' | 'mediaFiles') => {
        const value = options[name] ?? DEFAULTS[name];
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number ≥ 0, not ${JSON.stringify(value)}`);
        return value;
    };
    const rows = {
        boatlog: count('boatlogRows'),
        telemetry: count('telemetryRows'),
        captures: count('captureRows'),
        issues: count('issueRows'),
        media: count('mediaFiles'),
    };
    const start = options.startTime ?? DEFAULTS.startTime;
    if (Number.isNaN(start.getTime())) throw new Error('startTime is not a valid date');
    const startSeconds = Math.floor(start.getTime() / 1000);
    const layout = boatLayout({ root, mediaDir, backupDir });

    for (const dir of [root, mediaDir, backupDir, layout.manualsDir]) await fs.mkdir(dir, { recursive: true });
    const secrets = await writeConfigFiles(layout, installationId, tier, start);
    // Separate databases build on separate threads of the sqlite3 pool.
    await Promise.all([
        buildBoatlog(layout.boatlogDb, rows.boatlog, options.uuidBoatlogIds ?? true, installationId, startSeconds),
        buildTelemetry(layout.telemetryDb, rows.telemetry, startSeconds),
        buildCaptures(layout.capturesDb, rows.captures, options.oldCapturesSchema ?? false, mediaDir, startSeconds),
        buildIssues(layout.issuesDb, rows.issues, startSeconds),
        buildMedia(mediaDir, rows.media, (options.now ?? new Date()).getTime()),
    ]);
    return { root, mediaDir, backupDir, installationId, tier, layout, secrets, awkwardTexts: [...AWKWARD_TEXTS] };
}

/** A deterministic secret-looking value: distinctive enough that finding it in an export means a leak. */
function secret(label: string, installationId: string): string {
    return `${label}-${crypto
        .createHash('sha256')
        .update(label + installationId)
        .digest('hex')
        .slice(0, 32)}`;
}

async function writeText(file: string, text: string): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, text);
}

function writeJson(file: string, value: unknown): Promise<void> {
    return writeText(file, JSON.stringify(value, null, 2) + '\n');
}

/** Every JSON and env file of the boat. Returns the secret values planted in them. */
async function writeConfigFiles(layout: BoatLayout, installationId: string, tier: number, start: Date): Promise<string[]> {
    const secrets = {
        deviceKey: secret('d3kos-device', installationId),
        anonKey: secret('sb-anon', installationId),
        openai: secret('sk-demo', installationId),
        weatherToken: secret('wx-token', installationId),
        signalk: secret('sk-signalk', installationId),
        mapsKey: secret('maps-key', installationId),
    };
    const at = (hours: number) => new Date(start.getTime() + hours * 3600000).toISOString();

    await writeJson(layout.license, {
        installation_id: installationId,
        tier,
        reset_count: 1,
        max_resets: 10,
        version: '0.9.1.2',
        features: { export: tier >= 1, scheduled_export: tier >= 2, marine_vision: true, cloud_sync: tier >= 3 },
        subscription_status: tier >= 2 ? 'active' : 'none',
        subscription_expires_at: tier >= 2 ? '2027-06-30T00:00:00Z' : null,
        upgrade_method: tier >= 1 ? 'license_key' : undefined,
        is_paid_tier: tier >= 2,
        paid_tier_level: tier,
    });
    await writeJson(layout.cloudCredentials, { device_api_key: secrets.deviceKey, supabase_anon_key: secrets.anonKey, supabase_url: 'https://demo.invalid' });
    await writeText(layout.apiKeysEnv, `# API keys for the helm assistant\nOPENAI_API_KEY=${secrets.openai}\nMAPS_API_KEY="${secrets.mapsKey}"\n`);
    await writeJson(layout.preferences, {
        units: { speed: 'kn', depth: 'm', temperature: 'C' },
        display: { theme: 'night', brightness: 70 },
        openai_api_key: secrets.openai,
        integrations: { weather: { provider: 'demo', api_token: secrets.weatherToken } },
        voice: { wake_word: 'helm', volume: 6 },
    });
    await writeJson(layout.onboarding, {
        vessel_name: 'Demo Boat',
        boat_type: 'sailboat',
        engine: { make: 'Volvo Penta', model: 'D2-40', cylinders: 4 },
        home_port: 'Göteborg',
        completed_at: start.toISOString(),
    });
    await writeJson(layout.onboardingResetCount, { count: 2 });
    await writeText(layout.vesselEnv, `VESSEL_NAME="Demo Boat"\nMMSI=265000000\nHOME_PORT=Göteborg\nSIGNALK_TOKEN=${secrets.signalk}\n`);
    await writeJson(layout.benchmarkResults[0], {
        tests: [1, 2, 3].map((n) => ({
            id: `bench-${n}`,
            startTime: at(n * 24),
            endTime: new Date(start.getTime() + n * 86400000 + 600000).toISOString(),
            duration: 600,
            samples: [0, 1, 2].map((s) => ({ t: s * 200, rpm: 1800 + s * 100 + n, coolant_c: 78 + s, oil_kpa: 320 - s })),
            avgMetrics: { rpm: 1900 + n, coolant_c: 79, oil_kpa: 319 },
        })),
        baseline: { rpm: 1900, coolant_c: 79, oil_kpa: 320 },
    });
    await writeJson(
        layout.qrCodes,
        [1, 2, 3].map((n) => ({ id: `qr-${n}`, type: n === 1 ? 'wifi' : 'vessel-card', created_at: at(n), content: `d3kos://vessel/${installationId}/card/${n}` })),
    );
    await writeJson(layout.alertsJson, [
        { id: 'alert-1', timestamp: at(0), level: 'warning', message: 'Coolant temperature high, 92 °C' },
        { id: 'alert-2', timestamp: at(2), level: 'info', message: 'Bilge pump ran for 40 s' },
    ]);
    await writeText(path.join(layout.manualsDir, 'engine-manual.txt'), 'Volvo Penta D2-40 operator notes (demo).\n');
    await writeText(path.join(layout.manualsDir, 'watermaker.txt'), 'Watermaker: flush weekly with fresh water (demo).\n');
    return Object.values(secrets);
}

// ---- SQLite, promisified: the bulk of every table is generated inside SQLite, never row by row from JS.

function open(file: string): Promise<sqlite3.Database> {
    return new Promise((resolve, reject) => {
        const db: sqlite3.Database = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(db)));
    });
}
function exec(db: sqlite3.Database, sql: string): Promise<void> {
    return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}
function run(db: sqlite3.Database, sql: string, params: unknown[]): Promise<void> {
    return new Promise((resolve, reject) => db.run(sql, params, (err) => (err ? reject(err) : resolve())));
}
function all<T>(db: sqlite3.Database, sql: string, params: unknown[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
}
function close(db: sqlite3.Database): Promise<void> {
    return new Promise((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
}

/**
 * A fresh database filled by `fill` in one transaction. No journal while
 * filling (a half-built demo database is simply rebuilt), then WAL, the mode
 * the boat's services run in.
 */
async function buildDatabase(file: string, schema: string, fill: (db: sqlite3.Database) => Promise<void>): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    for (const suffix of ['', '-wal', '-shm', '-journal']) await fs.rm(file + suffix, { force: true });
    const db = await open(file);
    try {
        await exec(db, `PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536; ${schema}`);
        await exec(db, 'BEGIN');
        await fill(db);
        await exec(db, 'COMMIT');
        await exec(db, 'PRAGMA journal_mode = WAL');
    } finally {
        await close(db);
    }
}

/** A recursive CTE `name(i)` counting first, first + 1, ... (count values), to generate rows from. */
function counter(count: number, first = 1, name = 'n'): string {
    return `${name}(i) AS (SELECT ${first} UNION ALL SELECT i + 1 FROM ${name} WHERE i < ${first + count - 1})`;
}

const isoAt = (secondsSql: string) => `strftime('%Y-%m-%dT%H:%M:%SZ', ${secondsSql}, 'unixepoch')`;

// ---- Boatlog entry ids.
// The n-th row's UUID is a bijection of n (salted per boat), so ids never
// collide, contain no randomness, and can be computed inside SQLite: an odd
// multiplier mod 2^48 then two xorshift steps give the last 12 hex digits,
// the rest is hashed from them.

const MULTIPLIER = 25214903917n; // odd, so n -> n * MULTIPLIER + salt is a bijection mod 2^48
const MASK48 = (1n << 48n) - 1n;
const MAX_ROW_NUMBER = 2 ** 28; // keeps n * MULTIPLIER inside SQLite's 64-bit integers
const FALLBACK_SALT = 0x5eab0a7d3c0den;

function boatSalt(installationId: string): bigint {
    return BigInt('0x' + crypto.createHash('sha256').update(`boatlog:${installationId}`).digest('hex').slice(0, 12));
}

/**
 * CTE stages turning `src(i, ...)` into `ids(i, entry_id)`; the other columns
 * of src are not carried, join back on i where needed.
 */
function entryIdStages(uuid: boolean, salt: bigint): string {
    if (!uuid) return 'ids(i, entry_id) AS (SELECT i, i FROM src)';
    const xor = (a: string, b: string) => `((${a} | ${b}) - (${a} & ${b}))`;
    return [
        `u0(i, x) AS (SELECT i, (i * ${MULTIPLIER} + ${salt}) & ${MASK48} FROM src)`,
        `u1(i, x) AS (SELECT i, ${xor('x', '(x >> 24)')} FROM u0)`,
        `u2(i, x) AS (SELECT i, ${xor('x', `((x << 24) & ${MASK48})`)} FROM u1)`,
        `u3(i, x, a) AS (SELECT i, x, ((x & 16777215) * 2654435761 + (x >> 24)) & 4294967295 FROM u2)`,
        `u4(i, x, a, b) AS (SELECT i, x, a, ((x >> 24) * 2246822519 + a) & 4294967295 FROM u3)`,
        `u5(i, x, a, b, c) AS (SELECT i, x, a, b, (a * 40503 + b * 31) & 4294967295 FROM u4)`,
        `ids(i, entry_id) AS (SELECT i, printf('%08x-%04x-4%03x-%x%03x-%012x', a, b >> 16, b & 4095, 8 + (c & 3), (c >> 2) & 4095, x) FROM u5)`,
    ].join(',\n');
}

/** The salt a demo boatlog UUID was made with, given its row number; null for an id of another shape. */
function saltOf(entryId: unknown, n: number): bigint | null {
    const match = typeof entryId === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-([0-9a-f]{12})$/.exec(entryId);
    if (!match) return null;
    const x2 = BigInt('0x' + match[1]);
    const low = x2 & 0xffffffn;
    const x1 = (((x2 >> 24n) ^ low) << 24n) | low;
    const x0 = ((x1 >> 24n) << 24n) | ((x1 & 0xffffffn) ^ (x1 >> 24n));
    return (((x0 - BigInt(n) * MULTIPLIER) % (1n << 48n)) + (1n << 48n)) & MASK48;
}

const BOATLOG_SCHEMA = (uuid: boolean) => `CREATE TABLE boatlog_entries (
    entry_id ${uuid ? 'TEXT PRIMARY KEY' : 'INTEGER PRIMARY KEY'}, timestamp TEXT NOT NULL, entry_type TEXT NOT NULL,
    content TEXT, latitude REAL NULL, longitude REAL NULL, weather_conditions TEXT NULL)`;

const ENTRY_TYPE_SQL = `CASE i % 5 WHEN 1 THEN 'voice' WHEN 2 THEN 'text' WHEN 3 THEN 'auto' WHEN 4 THEN 'weather' ELSE 'engine' END`;

async function buildBoatlog(file: string, rows: number, uuid: boolean, installationId: string, startSeconds: number): Promise<void> {
    const awkward = AWKWARD_TEXTS.length;
    const total = Math.max(rows, awkward);
    if (total > MAX_ROW_NUMBER) throw new Error(`boatlogRows must be at most ${MAX_ROW_NUMBER}`);
    const ids = entryIdStages(uuid, boatSalt(installationId));
    await buildDatabase(file, BOATLOG_SCHEMA(uuid), async (db) => {
        // The awkward rows come first, so even the smallest boat has all of them.
        for (let k = 0; k < awkward; k++) {
            const i = k + 1;
            const gps = i % 3 !== 1; // rows 1, 4, 7, ... have no fix
            await run(db, `WITH src(i) AS (SELECT ?), ${ids} INSERT INTO boatlog_entries SELECT entry_id, ${isoAt('?')}, ${ENTRY_TYPE_SQL}, ?, ?, ?, ? FROM ids`, [
                i,
                startSeconds + (i - 1) * 60,
                AWKWARD_TEXTS[k],
                gps ? 57.70887 - i * 0.0012345678901 : null,
                gps ? 11.97456 + i * 0.0009876543211 : null,
                i % 2 === 0 ? 'NW 15 kn, 1015 hPa, "squally", sea state 4' : null,
            ]);
        }
        if (total === awkward) return;
        await exec(
            db,
            `WITH RECURSIVE ${counter(total - awkward, awkward + 1, 'src')}, ${ids}
            INSERT INTO boatlog_entries
            SELECT entry_id, ${isoAt(`${startSeconds} + (i - 1) * 60`)}, ${ENTRY_TYPE_SQL},
                CASE i % 5
                    WHEN 1 THEN 'Voice note ' || i || ': spotted a tanker to port, passing clear'
                    WHEN 2 THEN 'Log ' || i || ': course ' || (i * 7 % 360) || ', SOG ' || (i % 9) || '.' || (i % 10) || ' kn, all well aboard'
                    WHEN 3 THEN 'Position report ' || i
                    WHEN 4 THEN 'Barometer ' || (990 + i % 40) || ' hPa, wind ' || (i % 30) || ' kn'
                    ELSE 'Engine hours ' || (1200 + i / 60) || ', coolant ' || (70 + i % 15) || ' °C'
                END,
                CASE WHEN i % 10 = 0 THEN NULL ELSE 57.5 + (i % 1000) * 0.000731 END,
                CASE WHEN i % 10 = 0 THEN NULL ELSE 11.6 + (i % 1000) * 0.000517 END,
                CASE WHEN i % 5 = 4 THEN json_object('wind_kn', i % 30, 'wind_dir', (i * 13) % 360, 'pressure_hpa', 990 + i % 40) END
            FROM ids`,
        );
    });
}

/**
 * Appends n boatlog rows, as the boatlog service would while the boat is
 * under way (tests and the crash test's writer process). One short
 * transaction that waits for other writers. Ids continue the boat's own
 * sequence; timestamps continue after the newest row (or from startTime if
 * that is later). Returns the entry_ids written, as text.
 */
export async function appendBoatlogRows(dbFile: string, n: number, options: { startTime?: Date } = {}): Promise<string[]> {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`n must be a whole number ≥ 0, not ${JSON.stringify(n)}`);
    const db = await open(dbFile);
    try {
        await exec(db, 'PRAGMA busy_timeout = 10000');
        await exec(db, 'BEGIN IMMEDIATE');
        try {
            const info = await all<{ name: string; type: string }>(db, 'PRAGMA table_info(boatlog_entries)');
            if (info.length === 0) throw new Error(`${dbFile} has no boatlog_entries table`);
            const uuid = !info.some((c) => c.name === 'entry_id' && /int/i.test(c.type));
            // Aliased: with an INTEGER PRIMARY KEY entry_id, a bare rowid column comes back named entry_id.
            const [last] = await all<{ row_number: number; entry_id: unknown }>(db, 'SELECT rowid AS row_number, entry_id FROM boatlog_entries ORDER BY rowid DESC LIMIT 1');
            const [{ newest }] = await all<{ newest: string | null }>(db, 'SELECT max(timestamp) AS newest FROM boatlog_entries');
            const lastRow = last?.row_number ?? 0;
            if (lastRow + n > MAX_ROW_NUMBER) throw new Error(`the boatlog would pass ${MAX_ROW_NUMBER} rows`);
            const after = newest && !Number.isNaN(Date.parse(newest)) ? Math.floor(Date.parse(newest) / 1000) + 1 : Math.floor(Date.now() / 1000);
            const from = Math.max(after, options.startTime ? Math.floor(options.startTime.getTime() / 1000) : -Infinity);
            const salt = (last && saltOf(last.entry_id, last.row_number)) ?? FALLBACK_SALT;
            if (n > 0) {
                await exec(
                    db,
                    `WITH RECURSIVE ${counter(n, lastRow + 1, 'src')}, ${entryIdStages(uuid, salt)}
                    INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content, latitude, longitude, weather_conditions)
                    SELECT entry_id, ${isoAt(`${from} + i - ${lastRow + 1}`)}, ${ENTRY_TYPE_SQL}, 'Position report ' || i,
                        57.7 + (i % 100) * 0.001, 11.9 + (i % 100) * 0.001, NULL
                    FROM ids ORDER BY i`,
                );
            }
            const written = await all<{ entry_id: unknown }>(db, 'SELECT entry_id FROM boatlog_entries WHERE rowid > ? ORDER BY rowid', [lastRow]);
            await exec(db, 'COMMIT');
            return written.map((row) => String(row.entry_id));
        } catch (err) {
            await exec(db, 'ROLLBACK').catch(() => undefined);
            throw err;
        }
    } finally {
        await close(db);
    }
}

async function buildTelemetry(file: string, rows: number, startSeconds: number): Promise<void> {
    const schema = 'CREATE TABLE telemetry_events (id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, event_type TEXT NOT NULL, data TEXT)';
    await buildDatabase(file, schema, async (db) => {
        if (rows === 0) return;
        await exec(
            db,
            `WITH RECURSIVE ${counter(rows)}
            INSERT INTO telemetry_events (id, timestamp, event_type, data)
            SELECT i, ${isoAt(`${startSeconds} + i - 1`)},
                CASE i % 4 WHEN 1 THEN 'engine' WHEN 2 THEN 'system' WHEN 3 THEN 'ui_interaction' ELSE 'ai_query' END,
                CASE i % 4
                    WHEN 1 THEN json_object('rpm', 1500 + i % 700, 'coolant_c', 70 + i % 15, 'oil_kpa', 300 + i % 40)
                    WHEN 2 THEN json_object('cpu_percent', i % 100, 'memory_percent', 40 + i % 50, 'cpu_temp_c', 45 + i % 20)
                    WHEN 3 THEN json_object('screen', CASE i % 3 WHEN 0 THEN 'helm' WHEN 1 THEN 'engine' ELSE 'boatlog' END, 'action', 'tap')
                    ELSE json_object('model', 'demo', 'latency_ms', 200 + i % 900, 'tokens', 50 + i % 300)
                END
            FROM n`,
        );
    });
}

async function buildCaptures(file: string, rows: number, oldSchema: boolean, mediaDir: string, startSeconds: number): Promise<void> {
    const later = ', species_top3 TEXT, location TEXT, slot_id INTEGER, gemini_species TEXT, gemini_response TEXT';
    const schema = `CREATE TABLE captures (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, image_path TEXT,
        person_detected INTEGER, fish_detected INTEGER, person_confidence REAL, fish_confidence REAL,
        species TEXT, species_confidence REAL${oldSchema ? '' : later})`;
    await buildDatabase(file, schema, async (db) => {
        if (rows === 0) return;
        const fish = 'i % 2 = 1';
        await run(
            db,
            `WITH RECURSIVE ${counter(rows)}
            INSERT INTO captures (timestamp, image_path, person_detected, fish_detected, person_confidence, fish_confidence, species, species_confidence
                ${oldSchema ? '' : ', species_top3, location, slot_id, gemini_species, gemini_response'})
            SELECT ${isoAt(`${startSeconds} + i * 3600`)}, ? || 'capture_' || i || '.jpg',
                i % 5 = 0, ${fish}, (i % 100) / 100.0, ((i * 37) % 100) / 100.0,
                CASE WHEN ${fish} THEN 'Atlantic cod' END, CASE WHEN ${fish} THEN ((i * 13) % 100) / 100.0 END
                ${
                    oldSchema
                        ? ''
                        : `, CASE WHEN ${fish} THEN json_array('Atlantic cod', 'Pollock', 'Haddock') END,
                    printf('%.4f,%.4f', 57.7 + (i % 50) * 0.001, 11.9 + (i % 50) * 0.001), i % 4,
                    CASE WHEN ${fish} THEN 'Gadus morhua' END, CASE WHEN ${fish} THEN 'Looks like an Atlantic cod, about ' || (40 + i % 30) || ' cm' END`
                }
            FROM n`,
            [path.join(mediaDir, 'captures') + path.sep],
        );
    });
}

async function buildIssues(file: string, rows: number, startSeconds: number): Promise<void> {
    const schema = `CREATE TABLE issues (id INTEGER PRIMARY KEY, timestamp TEXT, category TEXT, severity TEXT, description TEXT,
        metrics TEXT, status TEXT, resolved_at TEXT, remediation_action TEXT)`;
    await buildDatabase(file, schema, async (db) => {
        if (rows === 0) return;
        await exec(
            db,
            `WITH RECURSIVE ${counter(rows)}
            INSERT INTO issues (timestamp, category, severity, description, metrics, status, resolved_at, remediation_action)
            SELECT ${isoAt(`${startSeconds} + i * 5400`)},
                CASE i % 3 WHEN 0 THEN 'memory' WHEN 1 THEN 'disk' ELSE 'service' END,
                CASE i % 3 WHEN 0 THEN 'warning' WHEN 1 THEN 'critical' ELSE 'info' END,
                'Self-check ' || i || ': signalk restarted after a stall',
                json_object('cpu_percent', 40 + i % 50, 'memory_percent', 60 + i % 30),
                CASE WHEN i % 2 = 0 THEN 'resolved' ELSE 'open' END,
                CASE WHEN i % 2 = 0 THEN ${isoAt(`${startSeconds} + i * 5400 + 600`)} END,
                'restart_service'
            FROM n`,
        );
    });
}

// ---- Media: tiny files that start like real JPEG / MP4 files.

const JPEG_HEAD = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');
const JPEG_TAIL = Buffer.from('ffd9', 'hex');
const MP4_HEAD = Buffer.from('000000186674797069736f6d0000020069736f6d6d703431', 'hex');
const MINUTES_IN_30_DAYS = 30 * 24 * 60;

/** The i-th media file (0-based): its name inside the media folder and its bytes. */
function mediaFile(i: number): { name: string; bytes: Buffer } {
    const video = i % 6 === 5;
    const name = i % 2 === 0 ? `captures/capture_${i / 2 + 1}.jpg` : video ? `recording_${String(i).padStart(6, '0')}.mp4` : `snapshot_${String(i).padStart(6, '0')}.jpg`;
    const filler = Buffer.alloc(200 + ((i * 97) % 3800), i % 251);
    const bytes = video ? Buffer.concat([MP4_HEAD, filler]) : Buffer.concat([JPEG_HEAD, filler, JPEG_TAIL]);
    return { name, bytes };
}

async function buildMedia(mediaDir: string, files: number, nowMs: number): Promise<void> {
    await fs.mkdir(path.join(mediaDir, 'captures'), { recursive: true });
    const write = async (i: number) => {
        const { name, bytes } = mediaFile(i);
        const file = path.join(mediaDir, ...name.split('/'));
        await fs.writeFile(file, bytes);
        // Ages from 1 minute to 30 days, evenly spread (7919 is coprime with the minutes in 30 days),
        // so age-based retention always has files on both sides of its limit.
        const when = new Date(nowMs - (((i * 7919) % MINUTES_IN_30_DAYS) + 1) * 60000);
        await fs.utimes(file, when, when);
    };
    const BATCH = 64;
    for (let first = 0; first < files; first += BATCH) {
        await Promise.all(Array.from({ length: Math.min(BATCH, files - first) }, (_, k) => write(first + k)));
    }
}

// ---- CLI: node dist/tools/demo-boat.js <root> [options]

const USAGE = `usage: demo-boat <root> [--tier N] [--boatlog N] [--telemetry N] [--captures N] [--issues N] [--media N]
                 [--media-dir DIR] [--backup-dir DIR] [--installation-id HEX16] [--integer-ids] [--old-captures-schema] [--force]`;

export function parseCommandLine(args: string[]): { options: DemoBoatOptions; force: boolean } {
    const options: Partial<DemoBoatOptions> = {};
    let force = false;
    const numbers: Record<string, keyof DemoBoatOptions> = {
        '--tier': 'tier',
        '--boatlog': 'boatlogRows',
        '--telemetry': 'telemetryRows',
        '--captures': 'captureRows',
        '--issues': 'issueRows',
        '--media': 'mediaFiles',
    };
    const texts: Record<string, keyof DemoBoatOptions> = { '--media-dir': 'mediaDir', '--backup-dir': 'backupDir', '--installation-id': 'installationId' };
    const positional: string[] = [];
    for (let k = 0; k < args.length; k++) {
        const arg = args[k];
        const value = () => {
            const next = args[++k];
            if (next === undefined) throw new Error(`${arg} needs a value`);
            return next;
        };
        if (arg in numbers) {
            const text = value();
            if (!/^\d+$/.test(text)) throw new Error(`${arg} needs a whole number, not "${text}"`);
            (options as Record<string, unknown>)[numbers[arg]] = Number(text);
        } else if (arg in texts) (options as Record<string, unknown>)[texts[arg]] = value();
        else if (arg === '--old-captures-schema') options.oldCapturesSchema = true;
        else if (arg === '--integer-ids') options.uuidBoatlogIds = false;
        else if (arg === '--force') force = true;
        else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
        else positional.push(arg);
    }
    if (positional.length !== 1) throw new Error('name exactly one folder to build the boat in');
    return { options: { ...options, root: positional[0] }, force };
}

async function isNonEmptyFolder(dir: string): Promise<boolean> {
    try {
        return (await fs.readdir(dir)).length > 0;
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
    }
}

async function main(args: string[]): Promise<number> {
    let parsed;
    try {
        parsed = parseCommandLine(args);
    } catch (err) {
        process.stderr.write(`demo-boat: ${(err as Error).message}\n${USAGE}\n`);
        return 2;
    }
    const { options, force } = parsed;
    const root = path.resolve(options.root);
    const mediaDir = path.resolve(options.mediaDir ?? path.join(path.dirname(root), `${path.basename(root)}-camera-recordings`));
    if (!force) {
        for (const dir of [root, mediaDir]) {
            if (await isNonEmptyFolder(dir)) {
                process.stderr.write(`demo-boat: ${dir} already exists and is not empty; nothing was written. Pass --force to build over it.\n`);
                return 1;
            }
        }
    }
    const began = Date.now();
    const boat = await buildDemoBoat({ ...options, root, mediaDir });
    const seconds = ((Date.now() - began) / 1000).toFixed(1);
    const rowsOf = (name: keyof DemoBoatOptions, fallback: number) => (options[name] as number | undefined) ?? fallback;
    const lines = [
        `Demo boat built in ${seconds} s: tier ${boat.tier}, installation ${boat.installationId}`,
        `  root         ${boat.root}`,
        `  media        ${boat.mediaDir} (${rowsOf('mediaFiles', DEFAULTS.mediaFiles)} files)`,
        `  backups      ${boat.backupDir}`,
        `  boatlog      ${Math.max(rowsOf('boatlogRows', DEFAULTS.boatlogRows), AWKWARD_TEXTS.length)} rows (${AWKWARD_TEXTS.length} awkward)  ${boat.layout.boatlogDb}`,
        `  telemetry    ${rowsOf('telemetryRows', DEFAULTS.telemetryRows)} rows  ${boat.layout.telemetryDb}`,
        `  captures     ${rowsOf('captureRows', DEFAULTS.captureRows)} rows${options.oldCapturesSchema ? ' (older schema)' : ''}  ${boat.layout.capturesDb}`,
        `  issues       ${rowsOf('issueRows', DEFAULTS.issueRows)} rows  ${boat.layout.issuesDb}`,
        `  secrets      ${boat.secrets.length} planted in config/cloud-credentials.json, config/api-keys.env, config/user-preferences.json, vessel.env`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (err) => {
            process.stderr.write(`demo-boat: ${(err as Error).message}\n`);
            process.exit(1);
        },
    );
}
