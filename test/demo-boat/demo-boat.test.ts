import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { appendBoatlogRows, buildDemoBoat, DemoBoat, DemoBoatOptions } from '../../tools/demo-boat';
import { scratchFolder } from '../support/folders';
import { holdExclusiveLock, queryRows, release } from '../support/sqlite';

const TOOL = path.join(__dirname, '..', '..', 'tools', 'demo-boat.ts');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function columns(dbFile: string, table: string): Promise<string[]> {
    return (await queryRows<{ name: string }>(dbFile, `PRAGMA table_info(${table})`)).map((c) => c.name);
}

async function count(dbFile: string, table: string): Promise<number> {
    return (await queryRows<{ n: number }>(dbFile, `SELECT count(*) AS n FROM ${table}`))[0].n;
}

function filesUnder(dir: string): string[] {
    return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => fs.statSync(path.join(dir, name)).isFile());
}

function readJson(file: string): any {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), TOOL, ...args], { encoding: 'utf8', timeout: 60000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('demo boat', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    const build = (name: string, options: Partial<DemoBoatOptions> = {}) => buildDemoBoat({ root: path.join(scratch.dir, name), ...options });

    beforeEach(() => {
        scratch = scratchFolder('demo-boat');
    });
    afterEach(() => scratch.remove());

    describe('sources', function () {
        let boat: DemoBoat;
        beforeEach(async () => {
            boat = await build('d3kos');
        });

        it('every database has the tables and columns of the spec, in WAL mode', async function () {
            const expected: Array<[string, string, string[]]> = [
                [boat.layout.boatlogDb, 'boatlog_entries', ['entry_id', 'timestamp', 'entry_type', 'content', 'latitude', 'longitude', 'weather_conditions']],
                [
                    boat.layout.capturesDb,
                    'captures',
                    [
                        'id',
                        'timestamp',
                        'image_path',
                        'person_detected',
                        'fish_detected',
                        'person_confidence',
                        'fish_confidence',
                        'species',
                        'species_confidence',
                        'species_top3',
                        'location',
                        'slot_id',
                        'gemini_species',
                        'gemini_response',
                    ],
                ],
                [boat.layout.telemetryDb, 'telemetry_events', ['id', 'timestamp', 'event_type', 'data']],
                [boat.layout.issuesDb, 'issues', ['id', 'timestamp', 'category', 'severity', 'description', 'metrics', 'status', 'resolved_at', 'remediation_action']],
            ];
            for (const [file, table, names] of expected) {
                assert.deepEqual(await columns(file, table), names, table);
                assert.equal((await queryRows(file, 'PRAGMA journal_mode'))[0].journal_mode, 'wal', file);
            }
            const boatlogTypes = await queryRows(boat.layout.boatlogDb, 'PRAGMA table_info(boatlog_entries)');
            assert.deepEqual(
                boatlogTypes.map((c: any) => [c.name, c.notnull]).filter(([name]) => ['latitude', 'longitude', 'weather_conditions'].includes(name)),
                [
                    ['latitude', 0],
                    ['longitude', 0],
                    ['weather_conditions', 0],
                ],
            );
        });

        it('the JSON and env files have the shapes a boat has', function () {
            const license = readJson(boat.layout.license);
            for (const field of [
                'installation_id',
                'tier',
                'reset_count',
                'max_resets',
                'version',
                'features',
                'subscription_status',
                'subscription_expires_at',
                'upgrade_method',
                'is_paid_tier',
                'paid_tier_level',
            ]) {
                assert.ok(field in license, `license.json has ${field}`);
            }
            assert.equal(license.installation_id, 'd3c0de5eab0a7001');
            assert.equal(license.tier, 2);
            assert.equal(boat.installationId, 'd3c0de5eab0a7001');
            assert.equal(boat.tier, 2);

            const benchmark = readJson(boat.layout.benchmarkResults[0]);
            assert.ok(benchmark.tests.length > 0 && benchmark.baseline);
            for (const test of benchmark.tests) assert.deepEqual(Object.keys(test).sort(), ['avgMetrics', 'duration', 'endTime', 'id', 'samples', 'startTime']);
            const qr = readJson(boat.layout.qrCodes);
            assert.ok(Array.isArray(qr) && qr.length > 0 && qr.every((code: any) => code.id));
            assert.ok(Array.isArray(readJson(boat.layout.alertsJson)));
            assert.equal(typeof readJson(boat.layout.onboarding), 'object');
            assert.equal(typeof readJson(boat.layout.onboardingResetCount).count, 'number');
            assert.equal(typeof readJson(boat.layout.preferences), 'object');
            const envLines = fs.readFileSync(boat.layout.vesselEnv, 'utf8').split('\n').filter(Boolean);
            for (const line of envLines) assert.match(line, /^[A-Z_]+=.+$/);
            assert.ok(fs.readdirSync(boat.layout.manualsDir).length >= 2, 'a couple of manuals');
            assert.ok(fs.statSync(boat.backupDir).isDirectory());
        });

        it('captures point at images inside the media folder', async function () {
            const paths = await queryRows<{ image_path: string }>(boat.layout.capturesDb, 'SELECT image_path FROM captures');
            assert.ok(paths.length > 0);
            for (const { image_path } of paths) assert.ok(image_path.startsWith(path.join(boat.mediaDir, 'captures') + path.sep), image_path);
            assert.ok(
                paths.some(({ image_path }) => fs.existsSync(image_path)),
                'some captures have their file on disk',
            );
        });

        it('telemetry data is JSON text and timestamps increase', async function () {
            const rows = await queryRows<{ id: number; timestamp: string; data: string }>(boat.layout.telemetryDb, 'SELECT id, timestamp, data FROM telemetry_events ORDER BY id');
            for (const row of rows) assert.equal(typeof JSON.parse(row.data), 'object');
            for (let k = 1; k < rows.length; k++) assert.ok(rows[k].timestamp > rows[k - 1].timestamp);
            assert.equal(rows[0].timestamp, '2026-11-01T00:00:00Z');
        });

        it('the secrets are listed, distinctive, and stored in the secret files', function () {
            const secretFiles = [boat.layout.cloudCredentials, boat.layout.apiKeysEnv, boat.layout.preferences, boat.layout.vesselEnv].map((f) => fs.readFileSync(f, 'utf8'));
            assert.ok(boat.secrets.length >= 6);
            assert.equal(new Set(boat.secrets).size, boat.secrets.length);
            for (const secret of boat.secrets) {
                assert.match(secret, /^[a-z0-9-]+-[0-9a-f]{32}$/);
                assert.ok(
                    secretFiles.some((text) => text.includes(secret)),
                    `${secret} is stored on the boat`,
                );
            }
            const credentials = readJson(boat.layout.cloudCredentials);
            assert.ok(boat.secrets.includes(credentials.device_api_key));
            assert.ok(boat.secrets.includes(credentials.supabase_anon_key));
            const preferences = readJson(boat.layout.preferences);
            assert.ok(boat.secrets.includes(preferences.openai_api_key));
            assert.ok(boat.secrets.includes(preferences.integrations.weather.api_token));
            const apiKeys = fs
                .readFileSync(boat.layout.apiKeysEnv, 'utf8')
                .split('\n')
                .filter((l) => l.includes('='));
            assert.ok(apiKeys.length >= 2);
            for (const line of apiKeys) assert.ok(boat.secrets.includes(line.slice(line.indexOf('=') + 1).replace(/^"|"$/g, '')), line);
            const vessel = fs.readFileSync(boat.layout.vesselEnv, 'utf8');
            assert.ok(boat.secrets.includes(/^SIGNALK_TOKEN=(.*)$/m.exec(vessel)![1]));
            // Nowhere else: a secret found in an export can only have leaked from these files.
            for (const file of [boat.layout.license, boat.layout.onboarding, boat.layout.qrCodes, boat.layout.alertsJson, boat.layout.benchmarkResults[0]]) {
                const text = fs.readFileSync(file, 'utf8');
                for (const secret of boat.secrets) assert.ok(!text.includes(secret), `${secret} in ${file}`);
            }
        });
    });

    describe('awkward boatlog rows', function () {
        it('are stored byte for byte, first, even on a boat asked for fewer rows', async function () {
            const boat = await build('tiny', { boatlogRows: 3 });
            const rows = await queryRows<{ content: Buffer | null }>(boat.layout.boatlogDb, 'SELECT CAST(content AS BLOB) AS content FROM boatlog_entries ORDER BY rowid');
            assert.equal(rows.length, boat.awkwardTexts.length);
            rows.forEach((row, k) => assert.ok(Buffer.from(boat.awkwardTexts[k], 'utf8').equals(row.content ?? Buffer.alloc(0)), `row ${k + 1} differs`));
            const big = await build('big', { boatlogRows: 500 });
            assert.equal(await count(big.layout.boatlogDb, 'boatlog_entries'), 500);
            const first = await queryRows<{ content: string }>(big.layout.boatlogDb, `SELECT content FROM boatlog_entries ORDER BY rowid LIMIT ${big.awkwardTexts.length}`);
            assert.deepEqual(
                first.map((r) => r.content),
                big.awkwardTexts,
            );
        });

        it('cover every case that breaks CSV, spreadsheets and JSON', async function () {
            const boat = await build('d3kos', { boatlogRows: 10 });
            const texts = boat.awkwardTexts;
            const has = (what: string, test: (t: string) => boolean) => assert.ok(texts.some(test), what);
            has('double quotes and commas', (t) => t.includes('"') && t.includes(','));
            has('CR LF', (t) => t.includes('\r\n'));
            has('lone LF', (t) => /[^\r]\n/.test(t));
            has('non-BMP characters', (t) => [...t].some((ch) => ch.codePointAt(0)! > 0xffff));
            has('combining and zero-width characters', (t) => t.includes('\u0301') && t.includes('\u200b'));
            for (const lead of ['=', '+', '-', '@', '\t', '\r']) has(`leading ${JSON.stringify(lead)}`, (t) => t.startsWith(lead));
            has('empty content', (t) => t === '');
            has('about 10 kB of content', (t) => Buffer.byteLength(t) >= 10000);
            has('U+2028', (t) => t.includes('\u2028'));
            const rows = await queryRows(boat.layout.boatlogDb, `SELECT entry_type, latitude, longitude FROM boatlog_entries WHERE rowid <= ${texts.length}`);
            assert.deepEqual(new Set(rows.map((r: any) => r.entry_type)), new Set(['voice', 'text', 'auto', 'weather', 'engine']));
            assert.ok(
                rows.some((r: any) => r.latitude === null && r.longitude === null),
                'a row without GPS',
            );
            assert.ok(
                rows.some((r: any) => r.latitude !== null),
                'a row with GPS',
            );
        });
    });

    it('row and file counts follow the options', async function () {
        const now = new Date('2026-11-20T12:00:00Z');
        const boat = await build('d3kos', { boatlogRows: 40, telemetryRows: 123, captureRows: 7, issueRows: 4, mediaFiles: 17, now });
        assert.equal(await count(boat.layout.boatlogDb, 'boatlog_entries'), 40);
        assert.equal(await count(boat.layout.telemetryDb, 'telemetry_events'), 123);
        assert.equal(await count(boat.layout.capturesDb, 'captures'), 7);
        assert.equal(await count(boat.layout.issuesDb, 'issues'), 4);
        const media = filesUnder(boat.mediaDir);
        assert.equal(media.length, 17);
        assert.ok(media.some((name) => name.startsWith(`captures${path.sep}`)) && media.some((name) => !name.includes(path.sep)));
        assert.ok(media.some((name) => name.endsWith('.mp4')) && media.some((name) => name.endsWith('.jpg')));
        const ages = media.map((name) => (now.getTime() - fs.statSync(path.join(boat.mediaDir, name)).mtimeMs) / 86400000);
        for (const age of ages) assert.ok(age > 0 && age <= 30, `age ${age} days`);
        assert.ok(ages.some((age) => age > 7) && ages.some((age) => age < 7), 'files on both sides of a 7-day limit');
        assert.equal(boat.mediaDir, path.join(scratch.dir, 'd3kos-camera-recordings'));
        assert.equal(boat.backupDir, path.join(scratch.dir, 'd3kos', 'backups'));

        const empty = await build('empty', { boatlogRows: 0, telemetryRows: 0, captureRows: 0, issueRows: 0, mediaFiles: 0 });
        assert.equal(await count(empty.layout.telemetryDb, 'telemetry_events'), 0);
        assert.equal(await count(empty.layout.boatlogDb, 'boatlog_entries'), empty.awkwardTexts.length);
        assert.deepEqual(filesUnder(empty.mediaDir), []);
    });

    it('an older boat has a captures table without the later columns', async function () {
        const boat = await build('old', { oldCapturesSchema: true, captureRows: 5 });
        assert.deepEqual(await columns(boat.layout.capturesDb, 'captures'), [
            'id',
            'timestamp',
            'image_path',
            'person_detected',
            'fish_detected',
            'person_confidence',
            'fish_confidence',
            'species',
            'species_confidence',
        ]);
        assert.equal(await count(boat.layout.capturesDb, 'captures'), 5);
    });

    it('boatlog ids are unique UUIDs by default and integers when asked', async function () {
        const boat = await build('uuid', { boatlogRows: 5000 });
        const ids = await queryRows<{ entry_id: unknown }>(boat.layout.boatlogDb, 'SELECT entry_id FROM boatlog_entries');
        assert.ok(ids.every((r) => typeof r.entry_id === 'string' && UUID.test(r.entry_id)));
        assert.equal(new Set(ids.map((r) => r.entry_id)).size, 5000);

        const integer = await build('integer', { boatlogRows: 30, uuidBoatlogIds: false });
        const rows = await queryRows<{ entry_id: unknown; row_number: number }>(integer.layout.boatlogDb, 'SELECT rowid AS row_number, entry_id FROM boatlog_entries ORDER BY rowid');
        assert.deepEqual(
            rows.map((r) => r.entry_id),
            rows.map((r) => r.row_number),
        );
        assert.match((await queryRows(integer.layout.boatlogDb, 'PRAGMA table_info(boatlog_entries)'))[0].type, /INTEGER/);
    });

    it('the same options build the same boat, and another installation gets other ids and secrets', async function () {
        const now = new Date('2026-11-20T12:00:00Z');
        const mediaDir = path.join(scratch.dir, 'media');
        const dump = async (boat: DemoBoat) => {
            const parts: unknown[] = [];
            for (const [file, table] of [
                [boat.layout.boatlogDb, 'boatlog_entries'],
                [boat.layout.telemetryDb, 'telemetry_events'],
                [boat.layout.capturesDb, 'captures'],
                [boat.layout.issuesDb, 'issues'],
            ]) {
                parts.push(await queryRows(file, `SELECT * FROM ${table} ORDER BY rowid`));
            }
            for (const file of [
                boat.layout.license,
                boat.layout.preferences,
                boat.layout.cloudCredentials,
                boat.layout.apiKeysEnv,
                boat.layout.vesselEnv,
                boat.layout.qrCodes,
                boat.layout.benchmarkResults[0],
            ]) {
                parts.push(fs.readFileSync(file, 'utf8'));
            }
            for (const name of filesUnder(boat.mediaDir).sort()) {
                const file = path.join(boat.mediaDir, name);
                parts.push([name, fs.readFileSync(file).toString('hex'), fs.statSync(file).mtimeMs]);
            }
            return parts;
        };
        const options = { boatlogRows: 200, telemetryRows: 100, mediaFiles: 6, mediaDir, now };
        const first = await dump(await build('a', options));
        assert.deepEqual(await dump(await build('b', options)), first);
        // Building again over the same root replaces, not appends.
        assert.deepEqual(await dump(await build('a', options)), first);

        const other = await build('c', { ...options, mediaDir: path.join(scratch.dir, 'media-c'), installationId: '00112233445566ff' });
        const ids = await queryRows(other.layout.boatlogDb, 'SELECT entry_id FROM boatlog_entries ORDER BY rowid');
        assert.notDeepEqual(
            ids,
            (first[0] as any[]).map((r) => ({ entry_id: r.entry_id })),
        );
        assert.equal(other.secrets.filter((s) => first.some((part) => typeof part === 'string' && part.includes(s))).length, 0);
    });

    it('refuses options that are not a boat', async function () {
        await assert.rejects(build('x', { tier: 4 as any }), /tier must be 0, 1, 2 or 3/);
        await assert.rejects(build('x', { telemetryRows: -1 }), /telemetryRows must be a whole number/);
        await assert.rejects(build('x', { boatlogRows: 1.5 }), /boatlogRows must be a whole number/);
        await assert.rejects(build('x', { installationId: 'boat-1' }), /installationId must be 16 hexadecimal/);
    });

    describe('appendBoatlogRows', function () {
        it('adds rows after the last one, with increasing rowids and timestamps', async function () {
            const boat = await build('d3kos', { boatlogRows: 25 });
            const [before] = await queryRows(boat.layout.boatlogDb, 'SELECT max(rowid) AS rowid, max(timestamp) AS ts FROM boatlog_entries');
            const first = await appendBoatlogRows(boat.layout.boatlogDb, 5);
            const second = await appendBoatlogRows(boat.layout.boatlogDb, 3);
            const added = await queryRows<{ rowid: number; entry_id: string; timestamp: string; content: string }>(
                boat.layout.boatlogDb,
                `SELECT rowid, entry_id, timestamp, content FROM boatlog_entries WHERE rowid > ${before.rowid} ORDER BY rowid`,
            );
            assert.deepEqual(
                added.map((r) => r.entry_id),
                [...first, ...second],
            );
            assert.deepEqual(
                added.map((r) => r.rowid),
                [26, 27, 28, 29, 30, 31, 32, 33],
            );
            let previous = before.ts as string;
            for (const row of added) {
                assert.ok(row.timestamp > previous, `${row.timestamp} after ${previous}`);
                previous = row.timestamp;
            }
            assert.ok([...first, ...second].every((id) => UUID.test(id)));
            assert.equal(await count(boat.layout.boatlogDb, 'boatlog_entries'), 33);
            assert.deepEqual(await appendBoatlogRows(boat.layout.boatlogDb, 0), []);
        });

        it('continues the boat’s own id sequence, so appended ids never collide', async function () {
            const boat = await build('short', { boatlogRows: 100 });
            const added = await appendBoatlogRows(boat.layout.boatlogDb, 20);
            const longer = await build('long', { boatlogRows: 120 });
            const expected = await queryRows<{ entry_id: string }>(longer.layout.boatlogDb, 'SELECT entry_id FROM boatlog_entries WHERE rowid > 100 ORDER BY rowid');
            assert.deepEqual(
                added,
                expected.map((r) => r.entry_id),
            );
        });

        it('starts at startTime when that is later than the newest row, and keeps integer ids integers', async function () {
            const boat = await build('d3kos', { boatlogRows: 20, uuidBoatlogIds: false });
            const added = await appendBoatlogRows(boat.layout.boatlogDb, 2, { startTime: new Date('2027-03-01T08:00:00Z') });
            assert.deepEqual(added, ['21', '22']);
            const rows = await queryRows(boat.layout.boatlogDb, 'SELECT entry_id, timestamp FROM boatlog_entries WHERE rowid > 20 ORDER BY rowid');
            assert.deepEqual(rows, [
                { entry_id: 21, timestamp: '2027-03-01T08:00:00Z' },
                { entry_id: 22, timestamp: '2027-03-01T08:00:01Z' },
            ]);
        });

        it('waits for another writer to let go instead of failing', async function () {
            const boat = await build('d3kos', { boatlogRows: 20 });
            const holder = await holdExclusiveLock(boat.layout.boatlogDb);
            let released = false;
            const letGo = setTimeout(() => {
                released = true;
                void release(holder);
            }, 700);
            try {
                const added = await appendBoatlogRows(boat.layout.boatlogDb, 4);
                assert.equal(added.length, 4);
                assert.ok(released, 'the append finished only after the lock holder let go');
            } finally {
                clearTimeout(letGo);
                if (!released) await release(holder);
            }
            assert.equal(await count(boat.layout.boatlogDb, 'boatlog_entries'), 24);
        });
    });

    describe('command line', function () {
        it('builds a boat in a new folder and says what it made', async function () {
            const root = path.join(scratch.dir, 'cli');
            const result = runCli([root, '--tier', '1', '--boatlog', '30', '--telemetry', '40', '--captures', '3', '--media', '4', '--old-captures-schema']);
            assert.equal(result.status, 0, result.stderr);
            assert.match(result.stdout, /tier 1/);
            assert.match(result.stdout, /telemetry\s+40 rows/);
            assert.equal(readJson(path.join(root, 'config', 'license.json')).tier, 1);
            assert.equal(await count(path.join(root, 'data', 'telemetry', 'telemetry.db'), 'telemetry_events'), 40);
            assert.ok(!(await columns(path.join(root, 'data', 'marine-vision', 'captures.db'), 'captures')).includes('species_top3'));
            assert.equal(filesUnder(path.join(scratch.dir, 'cli-camera-recordings')).length, 4);
        });

        it('refuses a folder that is not empty unless --force', async function () {
            const root = path.join(scratch.dir, 'taken');
            fs.mkdirSync(root);
            fs.writeFileSync(path.join(root, 'notes.txt'), 'the owner’s notes');
            const refused = runCli([root, '--telemetry', '5']);
            assert.equal(refused.status, 1);
            assert.match(refused.stderr, /already exists and is not empty; nothing was written\. Pass --force/);
            assert.deepEqual(fs.readdirSync(root), ['notes.txt']);
            assert.ok(!fs.existsSync(path.join(scratch.dir, 'taken-camera-recordings')));

            const forced = runCli([root, '--telemetry', '5', '--force']);
            assert.equal(forced.status, 0, forced.stderr);
            assert.equal(await count(path.join(root, 'data', 'telemetry', 'telemetry.db'), 'telemetry_events'), 5);
            assert.equal(fs.readFileSync(path.join(root, 'notes.txt'), 'utf8'), 'the owner’s notes');
        });

        it('explains a bad command line', function () {
            const result = runCli([path.join(scratch.dir, 'x'), '--telemetry', 'lots']);
            assert.equal(result.status, 2);
            assert.match(result.stderr, /--telemetry needs a whole number, not "lots"/);
            assert.match(result.stderr, /usage: demo-boat/);
            assert.ok(!fs.existsSync(path.join(scratch.dir, 'x')));
        });
    });

    it('builds 1,000,000 telemetry rows and 100,000 boatlog rows (time printed, not asserted)', async function () {
        this.timeout(180000);
        const began = process.hrtime.bigint();
        const boat = await build('large', { telemetryRows: 1_000_000, boatlogRows: 100_000 });
        const seconds = Number(process.hrtime.bigint() - began) / 1e9;
        assert.equal(await count(boat.layout.telemetryDb, 'telemetry_events'), 1_000_000);
        assert.equal(await count(boat.layout.boatlogDb, 'boatlog_entries'), 100_000);
        const [{ n }] = await queryRows(boat.layout.boatlogDb, 'SELECT count(DISTINCT entry_id) AS n FROM boatlog_entries');
        assert.equal(n, 100_000);
        console.log(`        demo boat with 1,000,000 telemetry + 100,000 boatlog rows built in ${seconds.toFixed(2)} s`);
    });
});
