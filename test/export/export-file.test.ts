import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as zlib from 'zlib';
import * as path from 'path';
import sqlite3 from 'sqlite3';
import { appendBoatlogRows, buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { readLicense } from '../../lib/boat/license';
import { CATEGORY_KEYS } from '../../lib/categories';
import { exportBoatData, collectCategory, completeExport } from '../../lib/export/collect-export';
import { appendCategory, finishExport, removeStalePartials, startExport } from '../../lib/export/export-file';
import { inspectExportFile } from '../../lib/queue/orphans';
import { acknowledgeWatermarks, readWatermarks } from '../../lib/export/watermarks';
import { runSql } from '../support/sqlite';
import { scratchFolder } from '../support/folders';
import { assertCompleteExport, readExports, readExport } from '../support/exports';

function rows<T = any>(dbFile: string, sql: string): Promise<T[]> {
    return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(dbFile, sqlite3.OPEN_READONLY, (err) => {
            if (err) return reject(err);
            db.all(sql, (err2, result) => db.close(() => (err2 ? reject(err2) : resolve(result as T[]))));
        });
    });
}

describe('export files', function () {
    this.timeout(120000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;

    beforeEach(async () => {
        scratch = scratchFolder('export');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 40, telemetryRows: 300 });
    });
    afterEach(() => scratch.remove());

    it('a full export holds all nine categories, its own size, and the sha256 it reports', async function () {
        const result = await exportBoatData(boat.layout, 'full');
        const [only] = readExports(boat.layout.exportFilesDir);
        assertCompleteExport(only);
        assert.equal(only.file, result.export_file);
        assert.equal(only.json.mode, 'full');
        assert.equal(only.json.installation_id, boat.installationId);
        assert.equal(only.json.tier, 2);
        assert.equal(result.sha256, crypto.createHash('sha256').update(fs.readFileSync(result.export_file)).digest('hex'));
        assert.equal(result.file_size_bytes, fs.statSync(result.export_file).size);
        assert.deepEqual(Object.keys(only.json.data).sort(), [...CATEGORY_KEYS].sort());
        const withData = CATEGORY_KEYS.filter((key) => only.json.data[key].entry_count > 0).length;
        // Each stored part counts its own categories with data; together they are the export's.
        assert.equal(
            only.parts.reduce((n, p) => n + p.json.statistics.categories_with_data, 0),
            withData,
        );
        assert.equal(result.category_count, withData);
        assert.equal(result.encoding, 'br');
        assert.deepEqual(
            result.parts!.map((p) => [p.part, path.basename(p.export_file)]),
            [
                ['urgent', `${result.export_id}.json.br`],
                ['bulk', `${result.export_id}-bulk.json.br`],
            ],
        );
        for (const part of result.parts!) {
            // The sha256 names the stored bytes, and the file is one brotli stream any decoder reads.
            assert.equal(part.sha256, crypto.createHash('sha256').update(fs.readFileSync(part.export_file)).digest('hex'));
            assert.ok(zlib.brotliDecompressSync(fs.readFileSync(part.export_file)).length > part.file_size_bytes, 'stored compressed');
        }
        assert.ok(only.parts[0].json.data.telemetry.entries.length === 0 && only.parts[1].json.data.boatlog.entries.length === 0, 'each part carries its own class');
        assert.ok(withData >= 8, `the demo boat has data in almost every category, got ${withData}`);
        assert.equal(only.json.data.boatlog.entry_count, (await rows(boat.layout.boatlogDb, 'SELECT count(*) AS n FROM boatlog_entries'))[0].n);
        assert.equal(only.json.data.telemetry.entries.length, 300);
    });

    for (const storage of ['br', 'gzip'] as const) {
        it(`stored ${storage}: a source that fails after writing 3 MB of rows is cut back in the compressed file, the rest stays whole`, async function () {
            const license = await readLicense(boat.layout.license);
            const exp = await startExport(boat.layout, license, 'full', new Date(), storage);
            await collectCategory(boat.layout, exp, 'boatlog');
            // Rows that do not compress away (random text) past several flushes of the compressor, then the source fails.
            const summary = await appendCategory(exp, 'telemetry', async (out) => {
                await out.write('{"category":"telemetry","entry_count":3000,"entries":[');
                for (let i = 0; i < 3000; i++) await out.write(`${i ? ',' : ''}{"id":${i},"data":"${crypto.randomBytes(512).toString('hex')}"}`);
                throw new Error('the telemetry database went away mid-read');
            });
            assert.equal(summary.error, 'the telemetry database went away mid-read');
            await collectCategory(boat.layout, exp, 'system_alerts');
            const finished = await completeExport(boat.layout, exp);
            const whole = readExport(finished);
            assertCompleteExport(whole);
            assert.deepEqual(whole.json.data.telemetry, { category: 'telemetry', entry_count: 0, entries: [], error: 'the telemetry database went away mid-read' });
            assert.equal(whole.json.data.boatlog.entries.length, 40, 'what came before it is whole');
            assert.ok(whole.json.data.system_alerts.entry_count > 0, 'what came after it is whole');
            // Nothing of the dropped rows (1.5 MB even compressed) is left on the card.
            const stored = finished.parts!.reduce((n, p) => n + p.file_size_bytes, 0);
            assert.ok(stored < 200_000, `${stored} bytes stored`);
            assert.deepEqual(fs.readdirSync(boat.layout.exportFilesDir).sort(), finished.parts!.map((p) => path.basename(p.export_file)).sort(), 'no partial or redo file is left');
            // The checksum taken as the bytes went out names the file as it is after the cut-back.
            for (const part of finished.parts!) {
                const bytes = fs.readFileSync(part.export_file);
                assert.equal(part.sha256, crypto.createHash('sha256').update(bytes).digest('hex'), part.export_file);
                assert.equal(part.file_size_bytes, bytes.length);
            }
        });
    }

    it('a stored export file is taken back by its header and checksum; one cut short does not decode and is refused with its name', async function () {
        const finished = await exportBoatData(boat.layout, 'full');
        for (const part of finished.parts!) {
            const inspected = await inspectExportFile(part.export_file);
            assert.ok(!('reason' in inspected), JSON.stringify(inspected));
            assert.equal(inspected.export_id, part.export_id);
            assert.equal(inspected.sha256, part.sha256);
            assert.equal(inspected.encoding, 'br');
        }
        const cut = finished.parts![1].export_file;
        fs.truncateSync(cut, Math.floor(fs.statSync(cut).size / 2));
        const refused = await inspectExportFile(cut);
        assert.ok('reason' in refused);
        assert.match(refused.reason, new RegExp(`${path.basename(cut).replace(/\./g, '\\.')} does not decode as br`));
    });

    it('1,000 exports started in the same millisecond get 1,000 distinct ids and files', async function () {
        const license = await readLicense(boat.layout.license);
        const now = new Date('2026-11-22T03:00:00.000Z');
        const ids = new Set<string>();
        for (let i = 0; i < 1000; i += 50) {
            const batch = await Promise.all(Array.from({ length: 50 }, () => startExport(boat.layout, license, 'full', now)));
            for (const exp of batch) ids.add(exp.export_id);
            await Promise.all(batch.map((exp) => finishExport(exp)));
        }
        assert.equal(ids.size, 1000);
        const files = fs.readdirSync(boat.layout.exportFilesDir).filter((n) => /^export_[\w]+\.json\.br$/.test(n));
        assert.equal(files.length, 1000);
        for (const id of ids) assert.match(id, /^export_20261122_030000_000_[0-9a-f]{4}$/);
    });

    it('tier 0 cannot start an export, and no file appears', async function () {
        const license = { ...(await readLicense(boat.layout.license)), tier: 0 as const };
        await assert.rejects(startExport(boat.layout, license, 'full'), /Export requires Tier 1 or higher/);
        fs.writeFileSync(boat.layout.license, JSON.stringify(license));
        await assert.rejects(exportBoatData(boat.layout, 'full'), /Export requires Tier 1 or higher/);
        assert.deepEqual(fs.existsSync(boat.layout.exportFilesDir) ? fs.readdirSync(boat.layout.exportFilesDir) : [], []);
    });

    it('an unknown mode is refused with the modes it accepts', async function () {
        await assert.rejects(exportBoatData(boat.layout, 'weekly' as any), /use "full" or "incremental"/);
    });

    it('a writer killed at random moments never leaves a partial export under an export name', async function () {
        this.timeout(240000);
        const big = await buildDemoBoat({ root: path.join(scratch.dir, 'big'), telemetryRows: 150000, boatlogRows: 20000 });
        let kills = 0;
        for (let round = 0; round < 6; round++) {
            const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(__dirname, '../support/export-writer.ts'), big.root, big.mediaDir], {
                stdio: ['ignore', 'pipe', 'inherit'],
            });
            // Kill at a random moment once the writer is under way: mid-category, mid-rename, between exports.
            await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 1200));
            child.kill('SIGKILL');
            await new Promise((resolve) => child.once('exit', resolve));
            kills++;
            for (const e of readExports(big.layout.exportFilesDir)) assertCompleteExport(e);
        }
        const leftovers = fs.readdirSync(big.layout.exportFilesDir).filter((n) => n.endsWith('.partial'));
        assert.ok(leftovers.length > 0, 'at least one kill landed while an export was being written');
        const { removed } = await removeStalePartials(big.layout.exportFilesDir, 0);
        assert.equal(removed.length, leftovers.length);
        assert.deepEqual(
            fs.readdirSync(big.layout.exportFilesDir).filter((n) => n.endsWith('.partial')),
            [],
        );
        assert.equal(kills, 6);
    });

    it('an incremental export carries only rows after the acknowledged watermark', async function () {
        const full = await exportBoatData(boat.layout, 'full');
        assert.ok(full.watermarks.boatlog?.rowid, 'the full export carries a boatlog watermark');
        // Not acknowledged yet: the next incremental export sends everything again.
        const again = await exportBoatData(boat.layout, 'incremental');
        assert.equal(readExport(again.export_file).json.data.boatlog.entry_count, full.categories.boatlog.entry_count);

        await acknowledgeWatermarks(boat.layout.watermarksFile, full.export_id, full.watermarks);
        const added = await appendBoatlogRows(boat.layout.boatlogDb, 7);
        const incremental = await exportBoatData(boat.layout, 'incremental');
        const json = readExport(incremental.export_file).json;
        assert.equal(json.mode, 'incremental');
        assert.deepEqual(
            json.data.boatlog.entries.map((e: any) => e.entry_id),
            added,
        );
        assert.equal(json.data.telemetry.entry_count, 0);
        assert.ok(incremental.watermarks.boatlog!.rowid! > full.watermarks.boatlog!.rowid!);
    });

    it('a tier 1 boat cannot make an incremental export, only full ones, and no file appears for the refusal', async function () {
        const license = { ...(await readLicense(boat.layout.license)), tier: 1 as const };
        await assert.rejects(startExport(boat.layout, license, 'incremental'), (err: any) => {
            assert.equal(err.message, 'Incremental exports require Tier 2 or higher (this boat is Tier 1)');
            assert.equal(err.statusCode, 403);
            return true;
        });
        assert.deepEqual(fs.existsSync(boat.layout.exportFilesDir) ? fs.readdirSync(boat.layout.exportFilesDir) : [], []);
        fs.writeFileSync(boat.layout.license, JSON.stringify(license));
        await assert.rejects(exportBoatData(boat.layout, 'incremental'), /Incremental exports require Tier 2 or higher/);
        const full = await exportBoatData(boat.layout, 'full');
        assert.equal(full.tier, 1);
        assert.equal(readExports(boat.layout.exportFilesDir).length, 1);
    });

    it('a boatlog row that reuses the rowid of a deleted acknowledged row goes out in the next incremental export', async function () {
        // Integer entry_ids without AUTOINCREMENT: SQLite gives a new row max(rowid)+1, the rowid of the row just deleted.
        const own = await buildDemoBoat({ root: path.join(scratch.dir, 'integer-ids'), uuidBoatlogIds: false, boatlogRows: 20, telemetryRows: 5 });
        const first = await exportBoatData(own.layout, 'incremental');
        await acknowledgeWatermarks(own.layout.watermarksFile, first.export_id, first.watermarks);
        const mark = first.watermarks.boatlog!.rowid!;
        // A wrong dictation: the newest acknowledged entry is deleted, and the owner dictates it again.
        await runSql(own.layout.boatlogDb, `DELETE FROM boatlog_entries WHERE rowid = ${mark}`);
        const [redictated] = await appendBoatlogRows(own.layout.boatlogDb, 1, { startTime: new Date() });
        const [{ reused }] = await rows<{ reused: number }>(own.layout.boatlogDb, `SELECT rowid AS reused FROM boatlog_entries WHERE entry_id = ${redictated}`);
        assert.equal(reused, mark, "the new row took the deleted row's rowid");

        const second = await exportBoatData(own.layout, 'incremental');
        const json = readExport(second.export_file).json;
        assert.deepEqual(
            json.data.boatlog.entries.map((e: any) => String(e.entry_id)),
            [redictated],
        );
        await acknowledgeWatermarks(own.layout.watermarksFile, second.export_id, second.watermarks);
        const third = await exportBoatData(own.layout, 'incremental');
        assert.equal(third.categories.boatlog.entry_count, 0, 'once acknowledged it is not sent again');
    });

    it('a damaged watermark file is set aside with a warning, and the incremental export sends everything', async function () {
        const full = await exportBoatData(boat.layout, 'full');
        fs.mkdirSync(path.dirname(boat.layout.watermarksFile), { recursive: true });
        fs.writeFileSync(boat.layout.watermarksFile, '{"version":1,"acknowledged":{"boatlog":{"rowid":');
        const license = await readLicense(boat.layout.license);
        const exp = await startExport(boat.layout, license, 'incremental');
        assert.equal(exp.warnings?.length, 1);
        assert.match(exp.warnings![0], /export watermarks were damaged .* kept as .*watermarks\.json\.unreadable-/);
        const finished = await completeExport(boat.layout, exp);
        assert.equal(finished.categories.boatlog.entry_count, full.categories.boatlog.entry_count);
        assert.equal(finished.categories.telemetry.entry_count, full.categories.telemetry.entry_count);

        const folder = fs.readdirSync(path.dirname(boat.layout.watermarksFile));
        const kept = folder.filter((n) => n.startsWith('watermarks.json.unreadable-'));
        assert.equal(kept.length, 1, folder.join(', '));
        assert.equal(fs.readFileSync(path.join(path.dirname(boat.layout.watermarksFile), kept[0]), 'utf8'), '{"version":1,"acknowledged":{"boatlog":{"rowid":');
        assert.ok(!folder.includes('watermarks.json'), 'the damaged file no longer stands in the way');
        // The next day's export runs clean, and an acknowledgement starts a good file.
        const next = await startExport(boat.layout, license, 'incremental');
        assert.equal(next.warnings, undefined);
        await completeExport(boat.layout, next);
        await acknowledgeWatermarks(boat.layout.watermarksFile, finished.export_id, finished.watermarks);
        assert.deepEqual((await readWatermarks(boat.layout.watermarksFile)).acknowledged.boatlog, finished.watermarks.boatlog);
    });

    it('a stale partial that cannot be removed is reported, and the other stale partials are still removed', async function () {
        const dir = boat.layout.exportFilesDir;
        fs.mkdirSync(dir, { recursive: true });
        const old = new Date(Date.now() - 3600_000);
        const blocking = path.join(dir, '.export_20261122_030000_000_dead.json.partial');
        fs.mkdirSync(blocking);
        fs.writeFileSync(path.join(blocking, 'inside'), 'not ours');
        const stale = path.join(dir, '.export_20261122_030000_000_beef.json.partial');
        fs.writeFileSync(stale, '{"export_id":');
        for (const file of [blocking, stale]) fs.utimesSync(file, old, old);

        const result = await removeStalePartials(dir, 15 * 60 * 1000);
        assert.deepEqual(result.removed, [path.basename(stale)]);
        assert.deepEqual(
            result.kept.map((k) => k.name),
            [path.basename(blocking)],
        );
        assert.ok(result.kept[0].error.length > 0);
        assert.ok(!fs.existsSync(stale));
        assert.ok(fs.existsSync(path.join(blocking, 'inside')), 'a folder is never emptied');
    });

    it('rows written while an export is in flight are never marked as sent', async function () {
        const big = await buildDemoBoat({ root: path.join(scratch.dir, 'busy'), boatlogRows: 30000, telemetryRows: 10 });
        const license = await readLicense(big.layout.license);
        const exp = await startExport(big.layout, license, 'full');
        let writing = true;
        const writer = (async () => {
            while (writing) {
                await appendBoatlogRows(big.layout.boatlogDb, 25);
                await new Promise((r) => setTimeout(r, 5));
            }
        })();
        await collectCategory(big.layout, exp, 'boatlog');
        writing = false;
        await writer;
        const finished = await completeExport(big.layout, exp);
        const exported = new Set(readExport(finished.export_file).json.data.boatlog.entries.map((e: any) => e.entry_id));
        const mark = finished.watermarks.boatlog!.rowid!;
        const upToMark = await rows<{ entry_id: string }>(big.layout.boatlogDb, `SELECT entry_id FROM boatlog_entries WHERE rowid <= ${mark}`);
        const afterMark = await rows<{ entry_id: string }>(big.layout.boatlogDb, `SELECT entry_id FROM boatlog_entries WHERE rowid > ${mark}`);
        assert.equal(exported.size, upToMark.length);
        for (const row of upToMark) assert.ok(exported.has(row.entry_id), `row ${row.entry_id} is at or below the mark but was not exported`);
        for (const row of afterMark) assert.ok(!exported.has(row.entry_id));
        // The mark is only a candidate: the store has not moved.
        assert.deepEqual((await readWatermarks(big.layout.watermarksFile)).acknowledged, {});
    });

    it('a full disk while writing is reported as such and leaves no export file', async function () {
        if (process.getuid?.() !== 0) this.skip();
        const big = await buildDemoBoat({ root: path.join(scratch.dir, 'full-disk'), telemetryRows: 30000 });
        fs.mkdirSync(big.layout.exportsDir, { recursive: true });
        // Stored compressed, 30,000 rows take about 150 kB: a disk of 32 kB fills.
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32k', 'tmpfs', big.layout.exportsDir]);
        try {
            await assert.rejects(exportBoatData(big.layout, 'full'), /disk holding .* is full/);
            assert.deepEqual(readExports(big.layout.exportFilesDir), []);
            assert.deepEqual(fs.readdirSync(big.layout.exportFilesDir), [], 'the partial file is removed');
        } finally {
            execFileSync('umount', [big.layout.exportsDir]);
        }
    });
});
