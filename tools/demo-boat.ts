import { promises as fs } from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import sqlite3 from 'sqlite3';
import { boatLayout, BoatLayout } from '../lib/boat/layout';

export interface DemoBoatOptions {
    root: string;
    mediaDir?: string;
    backupDir?: string;
    tier?: 0 | 1 | 2 | 3;
    installationId?: string;
    boatlogRows?: number;
    telemetryRows?: number;
    captureRows?: number;
    issueRows?: number;
    mediaFiles?: number;
    oldCapturesSchema?: boolean;
    uuidBoatlogIds?: boolean;
    startTime?: Date;
}

export interface DemoBoat {
    root: string;
    mediaDir: string;
    backupDir: string;
    installationId: string;
    tier: number;
    layout: BoatLayout;
    secrets: string[];
    awkwardTexts: string[];
}

/** Boatlog contents that trip up CSV writers, spreadsheets and JSON encoders. */
export const AWKWARD_TEXTS = [
    'Anchored off "Smuggler\'s Cove", 3 shackles out, holding well',
    'Line one\r\nline two\nline three',
    'Wind NW 15 kn, gusting 22; reefed main, course 270',
    'Dolphins! 🐬🐬 and a sunfish 🐟 — Ångström, Ærø, Škoda, 東京, עברית',
    '=HYPERLINK("http://example.invalid","click")',
    '+SUM(A1:A9)',
    '-2+3',
    '@cmd',
    '\tTabbed start',
    '\rCarriage start',
    '',
    'Long passage notes: ' + 'steady westerly, engine off, hand steering. '.repeat(230),
];

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
function get<T>(db: sqlite3.Database, sql: string, params: unknown[] = []): Promise<T> {
    return new Promise((resolve, reject) => db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row as T))));
}
function close(db: sqlite3.Database): Promise<void> {
    return new Promise((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
}

/** A deterministic secret-looking value: distinctive enough that finding it in an export means a leak. */
function secret(label: string, installationId: string): string {
    return `${label}-${crypto.createHash('sha256').update(label + installationId).digest('hex').slice(0, 32)}`;
}

/** A deterministic UUID (v4 layout) for the n-th boatlog entry. */
function entryUuid(n: number, salt: string): string {
    const h = crypto.createHash('sha256').update(`${salt}:${n}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

async function writeJson(file: string, value: unknown): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Builds a /opt/d3kos-shaped folder with every data source of a d3kOS boat,
 * at the scale asked for: the data the tests, `npm start` and the benchmarks
 * run on. Same options, same contents.
 */
export async function buildDemoBoat(options: DemoBoatOptions): Promise<DemoBoat> {
    const root = path.resolve(options.root);
    const mediaDir = options.mediaDir ?? path.join(path.dirname(root), `${path.basename(root)}-camera-recordings`);
    const backupDir = options.backupDir ?? path.join(root, 'backups');
    const tier = options.tier ?? 2;
    const installationId = options.installationId ?? 'd3c0de5eab0a7001';
    const start = options.startTime ?? new Date('2026-11-01T00:00:00Z');
    const layout = boatLayout({ root, mediaDir, backupDir });
    const startSeconds = Math.floor(start.getTime() / 1000);

    for (const dir of [root, mediaDir, backupDir, layout.manualsDir]) await fs.mkdir(dir, { recursive: true });

    const secrets = {
        deviceKey: secret('d3kos-device', installationId),
        anonKey: secret('sb-anon', installationId),
        openai: secret('sk-demo', installationId),
        weatherToken: secret('wx-token', installationId),
        signalk: secret('sk-signalk', installationId),
        mapsKey: secret('maps-key', installationId),
    };

    await writeJson(layout.license, {
        installation_id: installationId,
        tier,
        reset_count: 1,
        max_resets: 10,
        version: '0.9.1.2',
        features: { export: tier >= 1, scheduled_export: tier >= 2, marine_vision: true },
        subscription_status: tier >= 2 ? 'active' : 'none',
        subscription_expires_at: tier >= 2 ? '2027-06-30T00:00:00Z' : null,
        upgrade_method: tier >= 1 ? 'license_key' : undefined,
        is_paid_tier: tier >= 2,
        paid_tier_level: tier,
    });
    await writeJson(layout.cloudCredentials, { device_api_key: secrets.deviceKey, supabase_anon_key: secrets.anonKey });
    await fs.writeFile(layout.apiKeysEnv, `OPENAI_API_KEY=${secrets.openai}\nMAPS_API_KEY=${secrets.mapsKey}\n`);
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
    await fs.mkdir(path.dirname(layout.vesselEnv), { recursive: true });
    await fs.writeFile(layout.vesselEnv, `VESSEL_NAME="Demo Boat"\nMMSI=265000000\nHOME_PORT=Göteborg\nSIGNALK_TOKEN=${secrets.signalk}\n`);
    await writeJson(layout.benchmarkResults[0], {
        tests: [1, 2, 3].map((n) => ({
            id: `bench-${n}`,
            startTime: new Date(start.getTime() + n * 86400000).toISOString(),
            endTime: new Date(start.getTime() + n * 86400000 + 600000).toISOString(),
            duration: 600,
            samples: [0, 1, 2].map((s) => ({ t: s * 200, rpm: 1800 + s * 100 + n, coolant_c: 78 + s, oil_kpa: 320 - s })),
            avgMetrics: { rpm: 1900 + n, coolant_c: 79, oil_kpa: 319 },
        })),
        baseline: { rpm: 1900, coolant_c: 79, oil_kpa: 320 },
    });
    await writeJson(layout.qrCodes, [1, 2, 3].map((n) => ({ id: `qr-${n}`, type: n === 1 ? 'wifi' : 'vessel-card', created_at: new Date(start.getTime() + n * 3600000).toISOString(), content: `d3kos://vessel/${installationId}/card/${n}` })));
    await writeJson(layout.alertsJson, [
        { id: 'alert-1', timestamp: start.toISOString(), level: 'warning', message: 'Coolant temperature high, 92 °C' },
        { id: 'alert-2', timestamp: new Date(start.getTime() + 7200000).toISOString(), level: 'info', message: 'Bilge pump ran for 40 s' },
    ]);
    await fs.writeFile(path.join(layout.manualsDir, 'engine-manual.txt'), 'Volvo Penta D2-40 operator notes (demo).\n');
    await fs.writeFile(path.join(layout.manualsDir, 'watermaker.txt'), 'Watermaker: flush weekly with fresh water (demo).\n');

    await buildBoatlog(layout.boatlogDb, options.boatlogRows ?? 50, options.uuidBoatlogIds ?? true, installationId, startSeconds);
    await buildTelemetry(layout.telemetryDb, options.telemetryRows ?? 200, startSeconds);
    await buildCaptures(layout.capturesDb, options.captureRows ?? 20, options.oldCapturesSchema ?? false, mediaDir, startSeconds);
    await buildIssues(layout.issuesDb, options.issueRows ?? 10, startSeconds);
    await buildMedia(mediaDir, options.mediaFiles ?? 10, start.getTime());

    return {
        root,
        mediaDir,
        backupDir,
        installationId,
        tier,
        layout,
        secrets: Object.values(secrets),
        awkwardTexts: [...AWKWARD_TEXTS],
    };
}

const ENTRY_TYPES = ['voice', 'text', 'auto', 'weather', 'engine'];

async function buildBoatlog(file: string, rows: number, uuidIds: boolean, salt: string, startSeconds: number): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const db = await open(file);
    try {
        await exec(db, `PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS boatlog_entries (
                entry_id ${uuidIds ? 'TEXT PRIMARY KEY' : 'INTEGER PRIMARY KEY'},
                timestamp TEXT NOT NULL, entry_type TEXT NOT NULL, content TEXT,
                latitude REAL NULL, longitude REAL NULL, weather_conditions TEXT NULL)`);
        await exec(db, 'BEGIN');
        const awkward = AWKWARD_TEXTS.length;
        for (let i = 0; i < awkward; i++) {
            const gps = i % 3 !== 0;
            await run(db, 'INSERT INTO boatlog_entries VALUES (?, ?, ?, ?, ?, ?, ?)', [
                uuidIds ? entryUuid(i + 1, salt) : i + 1,
                iso(startSeconds + i * 60),
                ENTRY_TYPES[i % ENTRY_TYPES.length],
                AWKWARD_TEXTS[i],
                gps ? 57.70887 - i * 0.0012345678901 : null,
                gps ? 11.97456 + i * 0.0009876543211 : null,
                i % 2 === 0 ? 'NW 15 kn, 1015 hPa, "squally"' : null,
            ]);
        }
        const rest = Math.max(0, rows - awkward);
        if (rest > 0) {
            // Generated inside SQLite: 100,000 rows in a fraction of a second.
            const id = uuidIds
                ? `lower(substr(h,1,8)||'-'||substr(h,9,4)||'-4'||substr(h,14,3)||'-a'||substr(h,18,3)||'-'||substr(h,21,12))`
                : `${awkward} + i`;
            await exec(db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rest}),
                g(i, h) AS (SELECT i, hex(randomblob(16)) FROM n)
                INSERT INTO boatlog_entries
                SELECT ${id}, strftime('%Y-%m-%dT%H:%M:%SZ', ${startSeconds} + (${awkward} + i) * 60, 'unixepoch'),
                    CASE i % 5 WHEN 0 THEN 'voice' WHEN 1 THEN 'text' WHEN 2 THEN 'auto' WHEN 3 THEN 'weather' ELSE 'engine' END,
                    'Log ' || i || ': course ' || (i * 7 % 360) || ', SOG ' || (i % 9) || '.' || (i % 10) || ' kn, all well aboard',
                    CASE WHEN i % 10 = 0 THEN NULL ELSE 57.5 + (i % 1000) * 0.000731 END,
                    CASE WHEN i % 10 = 0 THEN NULL ELSE 11.6 + (i % 1000) * 0.000517 END,
                    CASE WHEN i % 4 = 0 THEN 'W ' || (i % 30) || ' kn' ELSE NULL END
                FROM g`);
        }
        await exec(db, 'COMMIT');
    } finally {
        await close(db);
    }
}

async function buildTelemetry(file: string, rows: number, startSeconds: number): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const db = await open(file);
    try {
        await exec(db, `PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS telemetry_events (id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, event_type TEXT NOT NULL, data TEXT)`);
        if (rows > 0) {
            await exec(db, `BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
                INSERT INTO telemetry_events (timestamp, event_type, data)
                SELECT strftime('%Y-%m-%dT%H:%M:%SZ', ${startSeconds} + i, 'unixepoch'),
                    CASE i % 4 WHEN 0 THEN 'engine' WHEN 1 THEN 'system' WHEN 2 THEN 'ui_interaction' ELSE 'ai_query' END,
                    json_object('rpm', 1500 + i % 700, 'coolant_c', 70 + i % 15, 'cpu_percent', i % 100, 'screen', 'helm')
                FROM n; COMMIT`);
        }
    } finally {
        await close(db);
    }
}

async function buildCaptures(file: string, rows: number, oldSchema: boolean, mediaDir: string, startSeconds: number): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const db = await open(file);
    const later = oldSchema ? '' : ', species_top3 TEXT, location TEXT, slot_id INTEGER, gemini_species TEXT, gemini_response TEXT';
    try {
        await exec(db, `PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS captures (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, image_path TEXT,
                person_detected INTEGER, fish_detected INTEGER, person_confidence REAL, fish_confidence REAL,
                species TEXT, species_confidence REAL${later})`);
        if (rows > 0) {
            const extra = oldSchema
                ? ''
                : `, json_array('Atlantic cod', 'Pollock', 'Haddock'), '57.7089,11.9746', i % 4, 'Gadus morhua', 'Looks like an Atlantic cod, about 60 cm'`;
            await exec(db, `BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
                INSERT INTO captures (timestamp, image_path, person_detected, fish_detected, person_confidence, fish_confidence, species, species_confidence${oldSchema ? '' : ', species_top3, location, slot_id, gemini_species, gemini_response'})
                SELECT strftime('%Y-%m-%dT%H:%M:%SZ', ${startSeconds} + i * 3600, 'unixepoch'),
                    '${mediaDir.replace(/'/g, "''")}/captures/capture_' || i || '.jpg',
                    i % 5 = 0, i % 2, (i % 100) / 100.0, ((i * 37) % 100) / 100.0,
                    CASE WHEN i % 2 = 1 THEN 'Atlantic cod' ELSE NULL END, ((i * 13) % 100) / 100.0${extra}
                FROM n; COMMIT`);
        }
    } finally {
        await close(db);
    }
}

async function buildIssues(file: string, rows: number, startSeconds: number): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const db = await open(file);
    try {
        await exec(db, `PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS issues (id INTEGER PRIMARY KEY, timestamp TEXT, category TEXT, severity TEXT, description TEXT,
                metrics TEXT, status TEXT, resolved_at TEXT, remediation_action TEXT)`);
        if (rows > 0) {
            await exec(db, `BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
                INSERT INTO issues (timestamp, category, severity, description, metrics, status, resolved_at, remediation_action)
                SELECT strftime('%Y-%m-%dT%H:%M:%SZ', ${startSeconds} + i * 5400, 'unixepoch'),
                    CASE i % 3 WHEN 0 THEN 'memory' WHEN 1 THEN 'disk' ELSE 'service' END,
                    CASE i % 3 WHEN 0 THEN 'warning' WHEN 1 THEN 'critical' ELSE 'info' END,
                    'Self-check ' || i || ': signalk restarted after a stall',
                    json_object('cpu_percent', 40 + i % 50, 'memory_percent', 60 + i % 30),
                    CASE WHEN i % 2 = 0 THEN 'resolved' ELSE 'open' END,
                    CASE WHEN i % 2 = 0 THEN strftime('%Y-%m-%dT%H:%M:%SZ', ${startSeconds} + i * 5400 + 600, 'unixepoch') ELSE NULL END,
                    'restart_service'
                FROM n; COMMIT`);
        }
    } finally {
        await close(db);
    }
}

async function buildMedia(mediaDir: string, files: number, startMs: number): Promise<void> {
    await fs.mkdir(path.join(mediaDir, 'captures'), { recursive: true });
    const now = Date.now();
    for (let i = 0; i < files; i++) {
        const video = i % 3 === 2;
        const name = i % 2 === 0 ? path.join('captures', `capture_${i + 1}.jpg`) : `${video ? 'rec' : 'snap'}_${i + 1}.${video ? 'mp4' : 'jpg'}`;
        const file = path.join(mediaDir, name);
        await fs.writeFile(file, Buffer.alloc(256 + i * 16, i));
        // Spread over the last 30 days so age-based retention has something to do.
        const when = new Date(now - ((i * 3 + 1) % 30) * 86400000 - i * 60000);
        await fs.utimes(file, when, when);
    }
    void startMs;
}

function iso(seconds: number): string {
    return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** Appends n boatlog rows, as the boatlog service would while the boat is under way. Returns their entry_ids. */
export async function appendBoatlogRows(dbFile: string, n: number, options: { startTime?: Date } = {}): Promise<string[]> {
    const db = await open(dbFile);
    try {
        await exec(db, 'PRAGMA busy_timeout = 5000');
        const info = await new Promise<Array<{ name: string; type: string; pk: number }>>((resolve, reject) =>
            db.all('PRAGMA table_info(boatlog_entries)', (err, rows) => (err ? reject(err) : resolve(rows as any))),
        );
        const uuidIds = !info.some((c) => c.name === 'entry_id' && /integer/i.test(c.type));
        const last = await get<{ r: number | null; t: string | null }>(db, 'SELECT max(rowid) AS r, max(timestamp) AS t FROM boatlog_entries');
        let seconds = Math.max(
            Math.floor((options.startTime ?? new Date(0)).getTime() / 1000),
            last?.t ? Math.floor(Date.parse(last.t) / 1000) + 1 : Math.floor(Date.now() / 1000),
        );
        const ids: string[] = [];
        await exec(db, 'BEGIN IMMEDIATE');
        for (let i = 0; i < n; i++) {
            const next = (last?.r ?? 0) + i + 1;
            const id = uuidIds ? entryUuid(next, `append:${crypto.randomBytes(8).toString('hex')}`) : next;
            await run(db, 'INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content, latitude, longitude, weather_conditions) VALUES (?, ?, ?, ?, ?, ?, ?)', [
                id,
                iso(seconds++),
                'auto',
                `Position report ${next}`,
                57.7 + (next % 100) * 0.001,
                11.9 + (next % 100) * 0.001,
                null,
            ]);
            ids.push(String(id));
        }
        await exec(db, 'COMMIT');
        return ids;
    } finally {
        await close(db);
    }
}
