import assert from 'node:assert/strict';
import * as path from 'path';
import * as zlib from 'zlib';
import { Client } from 'pg';
import { RunningNodeRed } from '../../tools/node-red-runtime';
import { call, startCentral } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { forEachStore } from './stores';

// Two Node-REDs, each with only flows/central-ingest.json (npm run build first), on one PostgreSQL database,
// as two ingest instances behind a load balancer would be.

const BOATS = 20;
const EXPORTS_PER_BOAT = 10;

/** Export k of a boat: boatlog rows 5k+1 … 5k+12, so each overlaps the one before and after it. */
function boatExport(boat: number, k: number): { id: string; installation: string; gzip: Buffer } {
    const installation = `feed${String(boat).padStart(12, '0')}`;
    const id = `export_b${boat}_${k}`;
    const entries = Array.from({ length: 12 }, (_, i) => ({ entry_id: 5 * k + i + 1, note: `boat ${boat} row ${5 * k + i + 1}` }));
    const data: Record<string, unknown> = {};
    for (const key of ['engine_benchmark', 'marine_vision_captures', 'marine_vision_snapshots', 'qr_codes', 'system_alerts', 'telemetry']) data[key] = { entry_count: 0, entries: [] };
    data.boatlog = { entry_count: entries.length, entries };
    data.settings = { entry_count: 0, data: { export: k } };
    data.onboarding = { entry_count: 0, data: {} };
    const stamp = new Date(Date.UTC(2026, 0, 1, 0, k)).toISOString();
    const text = JSON.stringify({ export_id: id, installation_id: installation, tier: 2, format_version: '1.0', export_timestamp: stamp, mode: 'incremental', data });
    return { id, installation, gzip: zlib.gzipSync(text) };
}

interface Answer {
    import_id: string;
    already_imported: boolean;
    tries: number;
}

/** Uploads as the boat's queue does: again after a 5xx or a lost connection, until it is answered. */
async function upload(central: RunningNodeRed, exp: ReturnType<typeof boatExport>): Promise<Answer> {
    for (let tries = 1; ; tries++) {
        try {
            const res = await fetch(`${central.url}/api/v1/data/import`, {
                method: 'POST',
                headers: { authorization: `Bearer ${exp.installation}`, 'content-encoding': 'gzip', 'idempotency-key': exp.id },
                body: new Uint8Array(exp.gzip),
            });
            const body = await res.json();
            if (res.status === 200) return { import_id: body.import_id, already_imported: body.already_imported, tries };
            assert.ok(res.status >= 500, `${exp.id}: ${res.status} ${JSON.stringify(body)}`);
        } catch (err) {
            if (err instanceof assert.AssertionError || tries > 20) throw err;
        }
        await new Promise((resolve) => setTimeout(resolve, 50 * tries));
    }
}

function shuffled<T>(items: T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy;
}

forEachStore('two ingest instances on one database', (kind) => {
    if (kind.name !== 'PostgreSQL') return;
    let scratch: ReturnType<typeof scratchFolder>;
    let database: string;
    const instances: RunningNodeRed[] = [];

    before(async () => {
        scratch = scratchFolder('two-instances');
        database = await kind.freshDatabase();
        // Started together: both run the migrations at start, under the database's lock.
        instances.push(...(await Promise.all(['a', 'b'].map((name) => startCentral(path.join(scratch.dir, name), { D3KOS_INGEST_DATABASE_URL: database })))));
    });
    after(async () => {
        for (const instance of instances) await instance.stop();
        scratch.remove();
    });

    it('the same 200 exports sent to both at once, in random order, with retries: each imported exactly once, every row stored once', async () => {
        const exports = [];
        for (let boat = 0; boat < BOATS; boat++) for (let k = 0; k < EXPORTS_PER_BOAT; k++) exports.push(boatExport(boat, k));
        const answers = new Map<string, Answer[]>();
        // Eight at a time, each export to both instances at the same moment.
        const queue = shuffled(exports);
        await Promise.all(
            Array.from({ length: 8 }, async () => {
                for (let exp = queue.pop(); exp; exp = queue.pop()) {
                    const both = await Promise.all(shuffled(instances).map((instance) => upload(instance, exp!)));
                    answers.set(exp.id, both);
                }
            }),
        );

        assert.equal(answers.size, BOATS * EXPORTS_PER_BOAT);
        for (const [id, both] of answers) {
            assert.equal(both[0].import_id, both[1].import_id, `${id}: one import_id from both instances`);
            const imported = both.filter((a) => !a.already_imported).length;
            // Exactly one instance imported it, unless a retry came after an answer that was lost (then none says so twice).
            assert.ok(imported === 1 || (imported === 0 && both.some((a) => a.tries > 1)), `${id}: imported by ${imported} instances`);
        }

        const client = new Client({ connectionString: database });
        await client.connect();
        try {
            const {
                rows: [counts],
            } = await client.query(
                "SELECT (SELECT count(*)::int FROM imported_exports) AS exports, (SELECT count(DISTINCT import_id)::int FROM imported_exports) AS imports, (SELECT count(*)::int FROM category_rows WHERE category = 'boatlog') AS rows",
            );
            // Boat rows 1 … 5·9+12 = 57, each once.
            assert.deepEqual(counts, { exports: 200, imports: 200, rows: BOATS * (5 * (EXPORTS_PER_BOAT - 1) + 12) });
        } finally {
            await client.end();
        }

        // Either instance answers the same rows, each once, and the newest settings.
        const boat = boatExport(3, 0).installation;
        const [a, b] = await Promise.all(instances.map((instance) => call(instance, 'GET', `/api/v1/installations/${boat}/boatlog`)));
        assert.deepEqual(a.json.entries, b.json.entries);
        assert.deepEqual(
            a.json.entries.map((e: any) => e.entry_id).sort((x: number, y: number) => x - y),
            Array.from({ length: 57 }, (_, i) => i + 1),
        );
        assert.equal(a.json.total, 57);
        const settings = await call(instances[0], 'GET', `/api/v1/installations/${boat}/settings`);
        assert.deepEqual(settings.json.data, { export: EXPORTS_PER_BOAT - 1 }, "the newest export's settings, whatever order they came in");
        const listed = await call(instances[1], 'GET', '/api/v1/installations');
        assert.equal(listed.json.count, BOATS);
        assert.ok(listed.json.installations.every((i: any) => i.export_count === EXPORTS_PER_BOAT));
    });
});
