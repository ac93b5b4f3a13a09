import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'pg';
import { importJson } from '../../lib/ingest/import-export';
import { IngestStore, openStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { queryRows } from '../support/sqlite';
import { forEachStore, StoreKind } from './stores';

// docs/central-database.md's queries, taken from the page itself and run against a real PostgreSQL holding
// boats imported the way boats send them (telemetry's data as JSON text); the schema's comments and the
// SQLite store's views are checked here too.

const DOC = path.join(__dirname, '..', '..', 'docs', 'central-database.md');
const PLACEHOLDER_BOAT = '0123456789abcdef';
const BUSY = 'b0a7b0a7b0a7b0a7';
const SILENT = '5115e7715115e771';

/** The ```sql blocks under "Querying the central database", in the page's order. */
function documentedQueries(): string[] {
    const text = fs.readFileSync(DOC, 'utf8');
    const section = text.slice(text.indexOf('## Querying the central database'));
    return [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]);
}

const minutesAgo = (n: number) => new Date(Date.now() - n * 60000).toISOString();

/** An export as the boat makes one: rows of today, telemetry's data as JSON text inside the row. */
function boatExport(installationId: string, exportId: string, exportedAt: string): string {
    const telemetry = Array.from({ length: 120 }, (_, i) => ({
        id: i + 1,
        timestamp: minutesAgo(120 - i),
        event_type: i % 2 === 0 ? 'engine' : 'system',
        data: JSON.stringify(i % 2 === 0 ? { rpm: 1500 + i, coolant_c: 80, oil_kpa: 310 } : { cpu_percent: 20, memory_percent: 50, cpu_temp_c: 48 }),
    }));
    const boatlog = [1, 2, 3].map((i) => ({
        entry_id: `e-${i}`,
        timestamp: minutesAgo(30 - i),
        entry_type: 'text',
        content: `Log ${i}: all well aboard`,
        latitude: 57.7,
        longitude: 11.9,
        weather_conditions: JSON.stringify({ wind_kn: 12 }),
    }));
    const alerts = ['critical', 'warning', 'warning'].map((severity, i) => ({
        id: i + 1,
        source: 'issues.db',
        timestamp: minutesAgo(10 + i),
        category: 'disk',
        severity,
        description: 'Disk filling',
        metrics: JSON.stringify({ disk_percent: 91 }),
        status: i === 0 ? 'open' : 'resolved',
    }));
    const data: Record<string, unknown> = {};
    for (const key of ['engine_benchmark', 'marine_vision_captures', 'marine_vision_snapshots', 'qr_codes']) data[key] = { entry_count: 0, entries: [] };
    data.telemetry = { entry_count: telemetry.length, entries: telemetry, data: { system_snapshot: { uptime_s: 100 } } };
    data.boatlog = { entry_count: boatlog.length, entries: boatlog };
    data.system_alerts = { entry_count: alerts.length, entries: alerts };
    data.settings = { entry_count: 0, data: { units: 'metric' } };
    data.onboarding = { entry_count: 0, data: {} };
    return JSON.stringify({ export_id: exportId, installation_id: installationId, tier: 2, format_version: '1.0', export_timestamp: exportedAt, mode: 'incremental', data });
}

forEachStore('docs/central-database.md', (kind: StoreKind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;
    let database: string;

    before(async () => {
        scratch = scratchFolder('central-database-doc');
        database = await kind.freshDatabase();
        store = await openStore(path.join(scratch.dir, 'central'), database);
        await importJson(store, boatExport(BUSY, 'export_busy', new Date().toISOString()));
        await importJson(store, boatExport(SILENT, 'export_silent', minutesAgo(60 * 24 * 10)));
    });
    after(async () => {
        await store?.close();
        scratch.remove();
    });

    if (kind.name === 'SQLite') {
        it('the SQLite file has the same views, with the channels read from the JSON inside the row', async () => {
            const file = path.join(scratch.dir, 'central', 'ingest.db');
            const engine = await queryRows<{ rpm: number; coolant_c: number }>(file, "SELECT rpm, coolant_c FROM telemetry WHERE event_type = 'engine' ORDER BY event_time LIMIT 1");
            assert.deepEqual(engine, [{ rpm: 1500, coolant_c: 80 }]);
            const log = await queryRows<{ content: string; weather: string }>(file, 'SELECT content, weather FROM boatlog ORDER BY entry_time');
            assert.equal(log.length, 6);
            assert.deepEqual(JSON.parse(log[0].weather), { wind_kn: 12 });
            const alerts = await queryRows<{ severity: string; n: number }>(file, 'SELECT severity, count(*) AS n FROM system_alerts GROUP BY severity ORDER BY severity');
            assert.deepEqual(alerts, [
                { severity: 'critical', n: 2 },
                { severity: 'warning', n: 4 },
            ]);
        });
        return;
    }

    const sql = async (text: string, params: unknown[] = []) => {
        const client = new Client({ connectionString: database });
        await client.connect();
        try {
            return (await client.query(text, params)).rows;
        } finally {
            await client.end();
        }
    };

    it('the page holds five questions and a Grafana query', () => {
        const queries = documentedQueries();
        assert.equal(queries.length, 6, queries.join('\n---\n'));
        assert.match(queries[5], /\$__timeFilter\(/);
    });

    it('each documented query runs and answers the question it is under', async () => {
        // An import stamps last_import_at now; the silent boat's contact is moved back as if it had gone quiet.
        await sql(`UPDATE installations SET last_import_at = now() - interval '10 days' WHERE installation_id = $1`, [SILENT]);
        const [silent, engine, today, severity, counts, grafana] = documentedQueries();

        assert.deepEqual(
            (await sql(silent)).map((r) => r.installation_id),
            [SILENT],
        );

        const days = await sql(engine);
        const busy = days.filter((r) => r.installation_id === BUSY);
        assert.ok(busy.length >= 1 && busy.length <= 2, JSON.stringify(days));
        assert.equal(Math.max(...busy.map((r) => Number(r.max_rpm))), 1618);
        assert.equal(Number(busy[0].max_coolant_c), 80);
        assert.ok(busy.reduce((n, r) => n + Number(r.engine_hours), 0) > 0.9, JSON.stringify(busy));

        const log = await sql(today.replace(PLACEHOLDER_BOAT, BUSY));
        // Entries written half an hour ago are today's, unless the test runs just after midnight.
        const sinceMidnight = Date.now() - new Date(new Date().setHours(0, 0, 0, 0)).getTime();
        if (sinceMidnight > 3600000)
            assert.deepEqual(
                log.map((r) => r.content),
                ['Log 1: all well aboard', 'Log 2: all well aboard', 'Log 3: all well aboard'],
            );
        assert.ok(log.every((r) => r.latitude === 57.7 && r.entry_time instanceof Date));

        const alerts = await sql(severity);
        if (Date.now() - startOfWeek() > 3600000) {
            assert.deepEqual(
                alerts.map((r) => [r.severity, Number(r.alerts), Number(r.still_open)]),
                [
                    ['warning', 4, 0],
                    ['critical', 2, 2],
                ],
            );
        }

        const stored = await sql(counts);
        assert.deepEqual(
            stored.filter((r) => r.installation_id === BUSY).map((r) => [r.category, Number(r.rows)]),
            [
                ['boatlog', 3],
                ['system_alerts', 3],
                ['telemetry', 120],
            ],
        );

        // Grafana replaces $__timeFilter(column) with a range over the dashboard's time.
        const series = await sql(grafana.replace(/\$__timeFilter\((\w+)\)/g, "$1 BETWEEN now() - interval '6 hours' AND now()"));
        assert.ok(series.length >= 60, `${series.length} points`);
        assert.deepEqual(Object.keys(series[0]), ['time', 'metric', 'rpm']);
        assert.ok(series.every((r) => r.time instanceof Date && typeof r.rpm === 'number'));
    });

    it('rows are jsonb with telemetry data as JSON, times are timestamptz', async () => {
        const types = await sql(
            `SELECT table_name || '.' || column_name AS col, data_type FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name IN ('category_rows', 'category_data', 'imported_exports', 'installations', 'failed_imports')
               AND (column_name LIKE '%\\_at' OR column_name IN ('entry', 'data', 'categories'))`,
        );
        for (const { col, data_type } of types) assert.equal(data_type, /\.(entry|data|categories)$/.test(col) ? 'jsonb' : 'timestamp with time zone', col);
        const [row] = await sql(`SELECT jsonb_typeof(entry->'data') AS type, (entry->'data'->>'rpm')::int AS rpm FROM category_rows WHERE category = 'telemetry' AND row_key = '1' LIMIT 1`);
        assert.deepEqual(row, { type: 'object', rpm: 1500 });
    });

    it('every table, view, column and function of the schema has a comment', async () => {
        const missing = await sql(`
            SELECT c.relname || coalesce('.' || a.attname, '') AS what
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
              AND (CASE WHEN a.attname IS NULL THEN obj_description(c.oid, 'pg_class') ELSE col_description(c.oid, a.attnum) END) IS NULL
            UNION ALL
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition AND obj_description(c.oid, 'pg_class') IS NULL
            UNION ALL
            SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND obj_description(p.oid, 'pg_proc') IS NULL`);
        assert.deepEqual(
            missing.map((r) => r.what),
            [],
        );
    });
});

function startOfWeek(): number {
    const now = new Date();
    const day = (now.getDay() + 6) % 7;
    return new Date(now.getFullYear(), now.getMonth(), now.getDate() - day).getTime();
}
