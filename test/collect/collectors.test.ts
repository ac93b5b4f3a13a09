import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { CategoryKey } from '../../lib/categories';
import { exportBoatData } from '../../lib/export/collect-export';
import { acknowledgeWatermarks } from '../../lib/export/watermarks';
import { scratchFolder } from '../support/folders';
import { holdExclusiveLock, queryRows, release, runSql } from '../support/sqlite';
import { readExport } from '../support/exports';

async function exportJson(boat: DemoBoat): Promise<{ json: any; text: string }> {
    const result = await exportBoatData(boat.layout, 'full');
    const { json, text } = readExport(result);
    return { json, text };
}

const ROW_SOURCES: Array<{ key: CategoryKey; file: (b: DemoBoat) => string; table: string }> = [
    { key: 'boatlog', file: (b) => b.layout.boatlogDb, table: 'boatlog_entries' },
    { key: 'marine_vision_captures', file: (b) => b.layout.capturesDb, table: 'captures' },
    { key: 'telemetry', file: (b) => b.layout.telemetryDb, table: 'telemetry_events' },
];

describe('collectors', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;

    beforeEach(async () => {
        scratch = scratchFolder('collect');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 30, telemetryRows: 120, captureRows: 12, mediaFiles: 8 });
    });
    afterEach(() => scratch.remove());

    it('every collector reads its source on a good boat', async function () {
        const { json } = await exportJson(boat);
        for (const { key, file, table } of ROW_SOURCES) {
            const [{ n }] = await queryRows(file(boat), `SELECT count(*) AS n FROM ${table}`);
            assert.equal(json.data[key].entry_count, n, key);
            assert.equal(json.data[key].entries.length, n, key);
            assert.equal(json.data[key].error, undefined, key);
        }
        const [{ n: issues }] = await queryRows(boat.layout.issuesDb, 'SELECT count(*) AS n FROM issues');
        const alerts = JSON.parse(fs.readFileSync(boat.layout.alertsJson, 'utf8'));
        assert.equal(json.data.system_alerts.entry_count, issues + alerts.length);
        assert.deepEqual(new Set(json.data.system_alerts.entries.map((e: any) => e.source)), new Set(['issues.db', 'alerts.json']));
        assert.equal(json.data.qr_codes.entry_count, JSON.parse(fs.readFileSync(boat.layout.qrCodes, 'utf8')).length);
        const benchmark = JSON.parse(fs.readFileSync(boat.layout.benchmarkResults[0], 'utf8'));
        assert.equal(json.data.engine_benchmark.entry_count, benchmark.tests.length);
        assert.deepEqual(json.data.engine_benchmark.data.baseline, benchmark.baseline);
        assert.equal(json.data.marine_vision_snapshots.entry_count, 8);
        assert.ok(json.data.settings.data.preferences, 'preferences exported');
        assert.equal(json.data.settings.data.license.tier, 2);
        assert.ok(json.data.onboarding.data.wizard_answers, 'wizard answers exported');
        assert.equal(typeof json.data.onboarding.data.reset_count, 'number');
        assert.ok(json.data.telemetry.data.system_snapshot.memory.total_bytes > 0);
    });

    it('no secret value appears anywhere in an export', async function () {
        assert.ok(boat.secrets.length >= 4, 'the demo boat plants secrets');
        const { text } = await exportJson(boat);
        for (const secret of boat.secrets) assert.ok(!text.includes(secret), `secret ${secret.slice(0, 6)}… leaked into the export`);
        for (const field of ['subscription_expires_at', 'upgrade_method', 'paid_tier_level']) assert.ok(!text.includes(`"${field}":`), `${field} leaked`);
    });

    it('awkward boatlog text round-trips byte for byte', async function () {
        const { json } = await exportJson(boat);
        const stored = await queryRows(boat.layout.boatlogDb, 'SELECT * FROM boatlog_entries ORDER BY rowid');
        assert.deepEqual(json.data.boatlog.entries, stored);
        for (const text of boat.awkwardTexts)
            assert.ok(
                json.data.boatlog.entries.some((e: any) => e.content === text),
                `missing ${JSON.stringify(text.slice(0, 20))}`,
            );
    });

    it('media categories carry metadata only: no bytes and no path on disk', async function () {
        const { json, text } = await exportJson(boat);
        for (const entry of json.data.marine_vision_snapshots.entries) {
            assert.deepEqual(Object.keys(entry).sort(), ['filename', 'modified_at', 'size_bytes', 'type']);
            assert.ok(!path.isAbsolute(entry.filename));
        }
        for (const entry of json.data.marine_vision_captures.entries) assert.equal(entry.image_path, undefined);
        assert.ok(!text.includes(boat.mediaDir), 'the media folder path leaked');
    });

    it('a snapshot symlink out of the media folder is not followed', async function () {
        const outside = path.join(scratch.dir, 'outside');
        fs.mkdirSync(outside);
        fs.writeFileSync(path.join(outside, 'private.jpg'), 'x');
        fs.symlinkSync(outside, path.join(boat.mediaDir, 'link-out'));
        fs.symlinkSync(path.join(outside, 'private.jpg'), path.join(boat.mediaDir, 'linked.jpg'));
        const { json } = await exportJson(boat);
        assert.ok(!json.data.marine_vision_snapshots.entries.some((e: any) => /private|linked/.test(e.filename)));
    });

    it('a recording still being written does not move the snapshot mark past captures saved meanwhile', async function () {
        const t0 = Date.now();
        const media = await buildDemoBoat({ root: path.join(scratch.dir, 'recording'), mediaFiles: 6, now: new Date(t0 - 3600_000) });
        const snapshots = async () => {
            const exp = await exportBoatData(media.layout, 'incremental');
            await acknowledgeWatermarks(media.layout.watermarksFile, exp.export_id, exp.watermarks);
            const json = readExport(exp.export_file).json;
            return { names: json.data.marine_vision_snapshots.entries.map((e: any) => e.filename).sort(), mark: exp.watermarks.marine_vision_snapshots };
        };
        // The camera is writing recording_live.mp4: from the walk's point of view it was modified after the walk began.
        const live = path.join(media.mediaDir, 'recording_live.mp4');
        fs.writeFileSync(live, 'mp4 so far');
        fs.utimesSync(live, new Date(t0 + 120_000), new Date(t0 + 120_000));

        const first = await snapshots();
        assert.equal(first.names.length, 6);
        assert.ok(!first.names.includes('recording_live.mp4'), 'a file still changing waits for the next export');
        assert.ok(first.mark!.modified_ms! < t0, 'the mark is the newest file that went out');

        // A capture saved in captures/ (a folder the walk had passed), older than the recording's latest write.
        const capture = path.join(media.mediaDir, 'captures', 'capture_late.jpg');
        fs.writeFileSync(capture, 'jpeg');
        fs.utimesSync(capture, new Date(t0 - 5000), new Date(t0 - 5000));
        const second = await snapshots();
        assert.deepEqual(second.names, ['captures/capture_late.jpg']);

        // The recording ends; its last write is now in the past, and it goes out.
        const ended = new Date(Date.now() - 3000);
        fs.utimesSync(live, ended, ended);
        const third = await snapshots();
        assert.deepEqual(third.names, ['recording_live.mp4']);
    });

    it('missing sources are empty categories, not errors', async function () {
        for (const file of [
            boat.layout.boatlogDb,
            boat.layout.capturesDb,
            boat.layout.telemetryDb,
            boat.layout.issuesDb,
            boat.layout.alertsJson,
            boat.layout.qrCodes,
            ...boat.layout.benchmarkResults,
            boat.layout.preferences,
            boat.layout.onboarding,
            boat.layout.onboardingResetCount,
            boat.layout.vesselEnv,
        ]) {
            fs.rmSync(file, { force: true });
            fs.rmSync(`${file}-wal`, { force: true });
            fs.rmSync(`${file}-shm`, { force: true });
        }
        fs.rmSync(boat.mediaDir, { recursive: true, force: true });
        const { json } = await exportJson(boat);
        for (const key of Object.keys(json.data)) assert.equal(json.data[key].error, undefined, `${key}: ${json.data[key].error}`);
        assert.equal(json.statistics.categories_with_data, 1, 'only the license (settings) remains');
    });

    it('empty sources are empty categories', async function () {
        await runSql(boat.layout.boatlogDb, 'DELETE FROM boatlog_entries');
        fs.writeFileSync(boat.layout.qrCodes, '[]');
        fs.writeFileSync(boat.layout.alertsJson, '');
        const { json } = await exportJson(boat);
        assert.equal(json.data.boatlog.entry_count, 0);
        assert.equal(json.data.boatlog.error, undefined);
        assert.equal(json.data.qr_codes.entry_count, 0);
        assert.equal(json.data.qr_codes.error, undefined);
    });

    it('a corrupt source is an error in its category while the other eight export', async function () {
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(boat.layout.boatlogDb + suffix, { force: true });
        fs.writeFileSync(boat.layout.boatlogDb, 'this is not a database, the SD card ate it'.repeat(200));
        fs.writeFileSync(boat.layout.qrCodes, '[{"id": 1,');
        const { json } = await exportJson(boat);
        assert.match(json.data.boatlog.error, /boatlog\.db is damaged/);
        assert.equal(json.data.boatlog.entry_count, 0);
        assert.match(json.data.qr_codes.error, /qr-codes\.json is not valid JSON/);
        assert.ok(json.data.telemetry.entry_count > 0);
        assert.ok(json.data.marine_vision_captures.entry_count > 0);
        assert.equal(json.statistics.categories_with_data, 7);
    });

    it('a table of the wrong schema is an error that names the table', async function () {
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(boat.layout.telemetryDb + suffix, { force: true });
        await runSql(boat.layout.telemetryDb, 'CREATE TABLE something_else(x)');
        const { json } = await exportJson(boat);
        assert.match(json.data.telemetry.error, /telemetry\.db has no telemetry_events table/);
        assert.ok(json.data.telemetry.data.system_snapshot, 'the live snapshot still goes out');
        assert.ok(json.data.boatlog.entry_count > 0);
    });

    it('a database locked by its writer is reported after retries while the others export', async function () {
        const holder = await holdExclusiveLock(boat.layout.boatlogDb);
        try {
            const { json } = await exportJson(boat);
            assert.match(json.data.boatlog.error, /boatlog\.db is locked by another program; retried 3 times/);
            assert.ok(json.data.telemetry.entry_count > 0);
        } finally {
            await release(holder);
        }
        const { json } = await exportJson(boat);
        assert.equal(json.data.boatlog.error, undefined, 'once the lock is gone the boatlog exports again');
    });

    it('an older captures schema exports the columns it has', async function () {
        const old = await buildDemoBoat({ root: path.join(scratch.dir, 'old'), oldCapturesSchema: true, captureRows: 5 });
        const { json } = await exportJson(old);
        assert.equal(json.data.marine_vision_captures.error, undefined);
        assert.equal(json.data.marine_vision_captures.entry_count, 5);
        const columns = (await queryRows(old.layout.capturesDb, 'PRAGMA table_info(captures)')).map((c: any) => c.name).filter((c: string) => c !== 'image_path');
        assert.deepEqual(Object.keys(json.data.marine_vision_captures.entries[0]).sort(), columns.sort());
        assert.ok(!columns.includes('gemini_response'));
    });

    it('damaged license files stop the export with the reason, and no file appears', async function () {
        const cases: Array<[string, RegExp]> = [
            ['{"tier": 2, "installation_id": ', /not valid JSON/],
            [JSON.stringify({ installation_id: boat.installationId, tier: -1 }), /tier -1, which is not a d3kOS tier/],
            [JSON.stringify({ installation_id: 'not-hex', tier: 2 }), /installation_id "not-hex"/],
        ];
        for (const [content, message] of cases) {
            fs.writeFileSync(boat.layout.license, content);
            await assert.rejects(exportBoatData(boat.layout, 'full'), message);
        }
        fs.rmSync(boat.layout.license);
        await assert.rejects(exportBoatData(boat.layout, 'full'), /license\.json was not found/);
        assert.deepEqual(fs.existsSync(boat.layout.exportFilesDir) ? fs.readdirSync(boat.layout.exportFilesDir) : [], []);
    });

    it('never writes to the boat databases', async function () {
        const before = ROW_SOURCES.map(({ file }) => fs.readFileSync(file(boat)));
        await exportJson(boat);
        ROW_SOURCES.forEach(({ file }, i) => assert.ok(before[i].equals(fs.readFileSync(file(boat))), `${file(boat)} changed`));
    });
});
