import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import * as zlib from 'zlib';
import { Client } from 'pg';
import { BoatDataError } from '../../lib/errors';
import { FLEET_READER } from '../../lib/ingest/access';
import { fleetHealth, IngestSettings, listInstallations, readCategory, receiveUpload } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import sqlite3 from 'sqlite3';
import { forEachStore } from './stores';
import { exportWithHugeString, gzipOf, smallExport } from './uploads';

// What an attacker (or a broken boat) can send and read, on each store: nothing of it is stored, and no read
// of what is stored holds more than a few MB.

const BOAT = 'a1b2c3d4e5f60718';

/** Writes to the SQLite file as a store from before the row cap would have. */
function writeSql(file: string, sql: string, params: unknown[]): Promise<void> {
    return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(file, (err) => {
            if (err) return reject(err);
            db.run(sql, params, (runErr) => db.close(() => (runErr ? reject(runErr) : resolve())));
        });
    });
}

async function rejectsWith(promise: Promise<unknown>, statusCode: number, message: RegExp): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
        assert.ok(err instanceof BoatDataError, `expected a BoatDataError, got ${err}`);
        assert.equal(err.statusCode, statusCode, err.message);
        assert.match(err.message, message);
        return true;
    });
}

forEachStore('central ingest: hostile uploads and reads', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;
    let database: string;
    let settings: IngestSettings;

    const send = (body: Buffer, headers: Record<string, string> = {}, bearer = BOAT) =>
        receiveUpload(store, settings, { headers: { authorization: `Bearer ${bearer}`, 'content-encoding': 'gzip', ...headers }, body });
    const sendJson = (text: string, bearer = BOAT) => send(zlib.gzipSync(text), {}, bearer);
    const exportsStored = async () => (await store.counts()).exports;

    beforeEach(async () => {
        scratch = scratchFolder('ingest-hostile');
        settings = { dataDir: path.join(scratch.dir, 'central'), mode: 'open', maxBodyBytes: 64 * 1024 * 1024 };
        database = await kind.freshDatabase();
        store = await kind.open(settings.dataDir, database);
    });
    afterEach(async () => {
        await store.close();
        scratch.remove();
    });

    it('a boatlog entry holding a 200 MB string is refused with 413 naming the category and entry, and nothing is stored', async () => {
        const bomb = await gzipOf(exportWithHugeString(BOAT, 'export_huge_1', 200));
        assert.ok(bomb.length < 1024 * 1024, `the upload is ${bomb.length} bytes as sent`);
        await rejectsWith(send(bomb), 413, /the boatlog entry at data\.boatlog\.entries\[0\] holds a string of more than 512 kB/);
        assert.equal(await exportsStored(), 0);
    });

    it('an entry over the row cap made of many small strings is refused with 413 naming it', async () => {
        const entries = [{ entry_id: 1 }, { entry_id: 2, notes: Array.from({ length: 60000 }, (_, i) => `note number ${i} of many`) }];
        const json = JSON.parse(smallExport(BOAT, 'export_wide_row'));
        json.data.boatlog.entries = entries;
        await rejectsWith(sendJson(JSON.stringify(json)), 413, /the boatlog entry at data\.boatlog\.entries\[1\] is larger than 1 MB/);
        assert.equal(await exportsStored(), 0);
    });

    describe('duplicate keys are refused with 400, never read two ways', () => {
        const cases: Array<[string, (text: string) => string, RegExp]> = [
            ['at the top (two installation_ids)', (t) => t.replace('{"export_id"', `{"installation_id":"ffffffffffffffff","export_id"`), /the export has the key "installation_id" twice/],
            ['in data (two boatlog categories)', (t) => t.replace('"data":{', '"data":{"boatlog":{"entries":[]},'), /data has the key "boatlog" twice/],
            ['inside an entry (two entry_ids)', (t) => t.replace('{"entry_id":2,', '{"entry_id":2,"entry_id":7,'), /the boatlog entry at data\.boatlog\.entries\[1\] has the key "entry_id" twice/],
        ];
        for (const [where, edit, message] of cases) {
            it(where, async () => {
                const text = edit(smallExport(BOAT, 'export_dup'));
                await rejectsWith(sendJson(text), 400, message);
                assert.equal(await exportsStored(), 0);
            });
        }
    });

    it('gzip bombs are refused: zeros as not JSON at the first byte, blank space after its first megabyte', async () => {
        const zeros = await gzipOf(
            (function* () {
                for (let i = 0; i < 256; i++) yield Buffer.alloc(1024 * 1024);
            })(),
            9,
        );
        await rejectsWith(send(zeros), 400, /not valid JSON \(a value that is not JSON at byte 1\)/);
        const spaces = await gzipOf(
            (function* () {
                yield '{"export_id":"export_space","installation_id":"' + BOAT + '",';
                for (let i = 0; i < 300; i++) yield Buffer.alloc(1024 * 1024, 0x20);
            })(),
            9,
        );
        await rejectsWith(send(spaces), 400, /more than 1 MB of blank space in a row/);
        assert.equal(await exportsStored(), 0);
    });

    it('an upload larger as sent than the cap is refused with 413, declared or not', async () => {
        const small: IngestSettings = { ...settings, maxBodyBytes: 64 * 1024 };
        const body = Buffer.alloc(100 * 1024, 0x20);
        const silent = new Readable({ read() {} });
        await rejectsWith(
            receiveUpload(store, small, { headers: { authorization: `Bearer ${BOAT}`, 'content-length': String(body.length) }, body: silent }),
            413,
            /the upload is 100 kB, more than the 64 kB/,
        );
        await rejectsWith(receiveUpload(store, small, { headers: { authorization: `Bearer ${BOAT}` }, body }), 413, /larger than the 64 kB this ingest accepts/);
    });

    it('uploads past 1 MB wait in a temp file, which is gone after the import, a refusal, or the cap', async () => {
        // In the data folder's spool, on disk: the system temp folder is RAM on Debian 13.
        const inSpool = () => (fs.existsSync(path.join(settings.dataDir, 'spool')) ? fs.readdirSync(path.join(settings.dataDir, 'spool'), { recursive: true }).map(String) : []);
        const spools = () => [...fs.readdirSync(os.tmpdir()), ...inSpool()].filter((name) => name.includes('d3kos-upload-'));
        const before = spools();
        // Random hex compresses about 2:1, so these are over 1 MB as sent.
        const big = zlib.gzipSync(smallExport(BOAT, 'export_spooled', 800, 4000));
        assert.ok(big.length > 1024 * 1024, `${big.length} bytes as sent`);
        // Sent in two parts, the second only once the first is seen waiting in the spool.
        const body = new Readable({ read() {} });
        const sent = receiveUpload(store, settings, { headers: { authorization: `Bearer ${BOAT}`, 'content-encoding': 'gzip' }, body });
        body.push(big.subarray(0, 1536 * 1024));
        for (let tries = 0; !inSpool().some((name) => name.includes('d3kos-upload-')); tries++) {
            assert.ok(tries < 500, 'the upload waits in a file of the data folder');
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
        body.push(big.subarray(1536 * 1024));
        body.push(null);
        assert.equal((await sent).already_imported, false);
        await rejectsWith(send(Buffer.concat([big.subarray(0, 2), crypto.randomBytes(2 * 1024 * 1024)])), 400, /not valid gzip data/);
        await rejectsWith(
            receiveUpload(store, { ...settings, maxBodyBytes: 1536 * 1024 }, { headers: { authorization: `Bearer ${BOAT}`, 'content-encoding': 'gzip' }, body: big }),
            413,
            /larger than the 1\.5 MB/,
        );
        assert.deepEqual(spools(), before);
    });

    it('an Idempotency-Key already imported is answered before the body is read', async () => {
        const first = await sendJson(smallExport(BOAT, 'export_once'));
        // A body that never sends a byte: only the headers and the database can have decided.
        const silent = new Readable({ read() {} });
        const again = await receiveUpload(store, settings, { headers: { authorization: `Bearer ${BOAT}`, 'content-encoding': 'gzip', 'idempotency-key': 'export_once' }, body: silent });
        assert.deepEqual([again.already_imported, again.import_id, again.records_imported], [true, first.import_id, first.records_imported]);
    });

    it('pages are cut by bytes as well as rows, and walking them by next_after gives every row once, in arrival order', async () => {
        // 40 rows of about 300 kB: 12 MB in all, more than one page may hold.
        await sendJson(smallExport(BOAT, 'export_wide', 40, 300 * 1024));
        const seen: number[] = [];
        let after: number | undefined;
        let pages = 0;
        for (;;) {
            const page = await readCategory(store, { installation_id: BOAT, category: 'boatlog', limit: 1000, ...(after === undefined ? {} : { after }) }, FLEET_READER);
            pages++;
            assert.ok(JSON.stringify(page.entries).length < 5 * 1024 * 1024, `page ${pages} holds ${JSON.stringify(page.entries).length} bytes`);
            assert.equal(page.total, 40);
            seen.push(...page.entries.map((e: any) => e.entry_id));
            if (page.next_after === undefined) break;
            after = page.next_after;
        }
        assert.ok(pages >= 3, `${pages} pages`);
        assert.deepEqual(
            seen,
            Array.from({ length: 40 }, (_, i) => i + 1),
        );
        // The older offset paging reads the same rows.
        const byOffset = await readCategory(store, { installation_id: BOAT, category: 'boatlog', offset: 5, limit: 3 }, FLEET_READER);
        assert.deepEqual(
            byOffset.entries.map((e: any) => e.entry_id),
            [6, 7, 8],
        );
        assert.equal(byOffset.next_offset, 8);
    });

    it('a 20 MB row stored before the row cap existed reads as null, named in oversized, and the rest of the page reads', async () => {
        await sendJson(smallExport(BOAT, 'export_before', 2));
        const huge = JSON.stringify({ entry_id: 99, note: 'x'.repeat(20 * 1024 * 1024) });
        if (kind.name === 'SQLite') {
            await writeSql(
                path.join(settings.dataDir, 'ingest.db'),
                "INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at) VALUES (?, 'boatlog', '99', ?, ?, 'old', '2020-01-01T00:00:00.000Z')",
                [BOAT, huge, huge.length],
            );
        } else {
            const client = new Client({ connectionString: database });
            await client.connect();
            await client.query(
                "INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at) VALUES ($1, 'boatlog', '99', $2, $3, 'old', '2020-01-01T00:00:00.000Z')",
                [BOAT, huge, huge.length],
            );
            await client.end();
        }
        const page = await readCategory(store, { installation_id: BOAT, category: 'boatlog' }, FLEET_READER);
        assert.deepEqual(
            page.entries.map((e: any) => e?.entry_id ?? null),
            [1, 2, null],
        );
        assert.equal(page.oversized?.length, 1);
        assert.equal(page.oversized?.[0].bytes, huge.length);
    });

    it('a row sent twice in one export, batches apart, is stored and counted once, as its last copy', async () => {
        const json = JSON.parse(smallExport(BOAT, 'export_twice', 2500));
        json.data.boatlog.entries[2499] = { entry_id: 1, note: 'the second copy' };
        await sendJson(JSON.stringify(json));
        const page = await readCategory(store, { installation_id: BOAT, category: 'boatlog', limit: 5000 }, FLEET_READER);
        assert.equal(page.total, 2499);
        assert.equal(page.entries.length, 2499);
        assert.deepEqual(page.entries[0], { entry_id: 1, note: 'the second copy' });
    });

    it('installations are listed a page at a time, by installation_id', async () => {
        const ids = ['0000000000000003', '0000000000000001', '0000000000000002'];
        for (const id of ids) await sendJson(smallExport(id, `export_${id}`), id);
        const first = await listInstallations(store, FLEET_READER, { limit: 2 });
        assert.deepEqual(
            first.installations.map((i) => i.installation_id),
            ['0000000000000001', '0000000000000002'],
        );
        assert.equal(first.next_after, '0000000000000002');
        const second = await listInstallations(store, FLEET_READER, { limit: 2, after: first.next_after });
        assert.deepEqual(
            second.installations.map((i) => [i.installation_id, i.export_count, i.records_imported]),
            [['0000000000000003', 1, 5]],
        );
        assert.equal(second.next_after, undefined);
    });

    it('the fleet health lists boats not heard from in N days and exports refused at import, for an operator only', async () => {
        await sendJson(smallExport(BOAT, 'export_good'));
        await rejectsWith(sendJson(smallExport(BOAT, 'export_bad').replace('"tier":2', '"tier":7')), 400, /tier 7/);
        const now = await fleetHealth(store, FLEET_READER, { days: 1 });
        assert.deepEqual(now.quiet, []);
        assert.deepEqual(
            now.failed.map((f) => [f.installation_id, f.export_id, f.status]),
            [[BOAT, 'export_bad', 400]],
        );
        assert.match(now.failed[0].error, /tier 7 is not a tier that exports/);
        const everyone = await fleetHealth(store, FLEET_READER, { days: 0 });
        assert.deepEqual(
            everyone.quiet.map((q) => q.installation_id),
            [BOAT],
        );
        assert.deepEqual([everyone.installations, everyone.exports], [1, 1]);
        await rejectsWith(fleetHealth(store, { scope: 'installation', installation_id: BOAT }), 403, /operator token/);
        // The same export sent again, fixed, is no longer a failure.
        await sendJson(smallExport(BOAT, 'export_bad'));
        assert.deepEqual((await fleetHealth(store, FLEET_READER, { days: 1 })).failed, []);
    });
});
