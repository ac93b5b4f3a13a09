import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import * as zlib from 'zlib';
import { appendBoatlogRows, DemoBoat } from '../../tools/demo-boat';
import { BoatDataError } from '../../lib/errors';
import { admitReader, FLEET_READER } from '../../lib/ingest/access';
import { health, HealthAnswer, IngestSettings, listInstallations, readCategory, readerIfAny, readImportedExport, receiveUpload } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { storedEntry } from '../../lib/ingest/stored-entry';
import type { CategoryKey } from '../../lib/categories';
import { scratchFolder } from '../support/folders';
import { queryRows } from '../support/sqlite';
import { forEachStore } from './stores';
import { alteredUpload, boatHeaders, demoBoatIn, ExportUpload, exportUpload } from './uploads';

/** No run of 5 characters of `secret` is in `text`. */
function assertNoPartOf(secret: string, text: string): void {
    for (let at = 0; at + 5 <= secret.length; at++) {
        assert.ok(!text.includes(secret.slice(at, at + 5)), `"${secret.slice(at, at + 5)}" of the secret is in: ${text}`);
    }
}

/** Rejects with a BoatDataError of this HTTP status whose message matches. */
async function rejectsWith(promise: Promise<unknown>, statusCode: number, message: RegExp): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
        assert.ok(err instanceof BoatDataError, `expected a BoatDataError, got ${err}`);
        assert.equal(err.statusCode, statusCode, err.message);
        assert.match(err.message, message);
        return true;
    });
}

forEachStore('central ingest: storing exports', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let store: IngestStore;
    let settings: IngestSettings;

    const send = (upload: ExportUpload, bearer = boat.installationId) => receiveUpload(store, settings, { headers: boatHeaders(upload, bearer), body: upload.gzip });
    const boatlog = async (installationId = boat.installationId) => (await readCategory(store, { installation_id: installationId, category: 'boatlog', limit: 100000 }, FLEET_READER)).entries as any[];

    beforeEach(async () => {
        scratch = scratchFolder('ingest');
        boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 40, telemetryRows: 60 });
        settings = { dataDir: path.join(scratch.dir, 'central'), mode: 'open', maxBodyBytes: 16 * 1024 * 1024 };
        store = await kind.open(settings.dataDir, await kind.freshDatabase());
    });
    afterEach(async () => {
        await store.close();
        scratch.remove();
    });

    it('a full export is stored and every category reads back as the boat sent it', async () => {
        const upload = await exportUpload(boat);
        const answer = await send(upload);
        assert.equal(answer.status, 'success');
        assert.match(answer.import_id, /^imp_/);
        assert.equal(answer.already_imported, false);
        const rows = Object.values(upload.json.data).reduce((n: number, c: any) => n + (c.entries?.length ?? 0) + (c.data ? 1 : 0), 0);
        assert.equal(answer.records_imported, rows);
        for (const category of Object.keys(upload.json.data)) {
            const read = await readCategory(store, { installation_id: boat.installationId, category, limit: 100000 }, FLEET_READER);
            // JSON text fields inside rows (telemetry's data, …) are stored, and so read, as the JSON they hold.
            const stored = (upload.json.data[category].entries ?? []).map((entry: unknown) => JSON.parse(storedEntry(category as CategoryKey, JSON.stringify(entry))));
            assert.deepEqual(read.entries, stored, category);
            assert.equal(read.count, read.entries.length);
            assert.deepEqual(read.data, upload.json.data[category].data ?? null, category);
        }
        const exported = await readImportedExport(store, upload.export_id, FLEET_READER);
        assert.equal(exported.installation_id, boat.installationId);
        assert.equal(exported.mode, 'full');
        assert.equal(exported.records_imported, rows);
        assert.equal(exported.categories.boatlog, upload.json.data.boatlog.entry_count);
    });

    it('the same export_id twice stores once and answers success again with the same import_id', async () => {
        const upload = await exportUpload(boat);
        const first = await send(upload);
        const second = await send(upload);
        assert.equal(second.status, 'success');
        assert.equal(second.already_imported, true);
        assert.equal(second.import_id, first.import_id);
        assert.equal(second.records_imported, first.records_imported);
        const { installations } = await listInstallations(store, FLEET_READER);
        assert.deepEqual(
            installations.map((i) => [i.installation_id, i.export_count]),
            [[boat.installationId, 1]],
        );
        assert.equal((await boatlog()).length, upload.json.data.boatlog.entry_count);
    });

    for (const uuid of [true, false]) {
        it(`overlapping incremental exports never duplicate a row (${uuid ? 'UUID' : 'integer'} entry_ids)`, async () => {
            const own = await demoBoatIn(scratch.dir, `boat-${uuid}`, { uuidBoatlogIds: uuid, boatlogRows: 30, telemetryRows: 10, installationId: 'aa00bb11cc22dd33' });
            const full = await exportUpload(own);
            await appendBoatlogRows(own.layout.boatlogDb, 12);
            // Never acknowledged on the boat: each incremental export repeats every row of the one before.
            const first = await exportUpload(own, 'incremental');
            await appendBoatlogRows(own.layout.boatlogDb, 5);
            const second = await exportUpload(own, 'incremental');
            for (const upload of [full, second, first, second]) await send(upload, own.installationId);

            const stored = await boatlog(own.installationId);
            const ids = stored.map((e) => String(e.entry_id));
            assert.equal(new Set(ids).size, ids.length, 'no entry_id is stored twice');
            const onBoat = await queryRows<{ entry_id: unknown }>(own.layout.boatlogDb, 'SELECT entry_id FROM boatlog_entries ORDER BY rowid');
            assert.deepEqual(
                ids,
                onBoat.map((r) => String(r.entry_id)),
            );
            assert.equal(typeof stored[0].entry_id, uuid ? 'string' : 'number');
            const telemetry = await readCategory(store, { installation_id: own.installationId, category: 'telemetry' }, FLEET_READER);
            assert.equal(telemetry.total, 10);
        });
    }

    it('settings and onboarding are one current row per installation, and a late older export does not overwrite them', async () => {
        const older = await exportUpload(boat);
        const newer = alteredUpload(await exportUpload(boat), (json) => {
            json.data.settings.data.preferences = { units: 'metric-after-change' };
        });
        await send(newer);
        await send(older);
        const settingsRead = await readCategory(store, { installation_id: boat.installationId, category: 'settings' }, FLEET_READER);
        assert.equal(settingsRead.total, 0);
        assert.deepEqual(settingsRead.data!.preferences, { units: 'metric-after-change' });
    });

    it('two boats keep their rows apart, even with the same entry_ids', async () => {
        const twin = await demoBoatIn(scratch.dir, 'twin', { boatlogRows: 40, telemetryRows: 5, installationId: '0123456789abcdef' });
        await send(await exportUpload(boat));
        await send(await exportUpload(twin), twin.installationId);
        assert.equal((await boatlog()).length, (await boatlog(twin.installationId)).length);
        const { count } = await listInstallations(store, FLEET_READER);
        assert.equal(count, 2);
        assert.equal(((await health(store, settings)) as HealthAnswer).installations, 2);
    });

    describe('refuses bad exports with a 400 naming the problem, storing nothing', () => {
        const cases: Array<[string, (json: any) => void, RegExp]> = [
            ['an unknown format_version', (j) => (j.format_version = '2.0'), /format_version "2\.0" is not supported/],
            ['a missing category', (j) => delete j.data.telemetry, /data\.telemetry is missing/],
            ['entries that are not an array', (j) => (j.data.boatlog.entries = { a: 1 }), /data\.boatlog\.entries is not an array/],
            ['a malformed installation_id', (j) => (j.installation_id = 'boat-1'), /installation_id "boat-1" is not 16 hexadecimal/],
            ['no data at all', (j) => delete j.data, /data is missing/],
            ['tier 0, which never exports', (j) => (j.tier = 0), /tier 0 never exports/],
            ['a tier outside 0..3', (j) => (j.tier = 7), /tier 7 is not a tier that exports \(1, 2 or 3\)/],
            ['a negative tier', (j) => (j.tier = -1), /tier -1 is not a tier that exports/],
            ['a missing tier', (j) => delete j.tier, /tier is missing/],
            ['a tier that is not a whole number', (j) => (j.tier = '2'), /tier "2" is not a whole number/],
        ];
        for (const [what, edit, message] of cases) {
            it(what, async () => {
                const upload = alteredUpload(await exportUpload(boat), edit);
                const bearer = /^[0-9a-f]{16}$/.test(upload.json.installation_id) ? upload.json.installation_id : boat.installationId;
                await rejectsWith(send(upload, bearer), 400, message);
                assert.equal((await store.counts()).exports, 0);
            });
        }

        it('several problems at once are all named', async () => {
            const upload = alteredUpload(await exportUpload(boat), (j) => {
                j.format_version = '0.9';
                delete j.data.qr_codes;
            });
            await rejectsWith(send(upload), 400, /format_version "0\.9".*; data\.qr_codes is missing/);
        });

        it('a body that is not JSON, not gzip, or empty', async () => {
            const upload = await exportUpload(boat);
            const headers = boatHeaders(upload, boat.installationId);
            await rejectsWith(receiveUpload(store, settings, { headers, body: zlib.gzipSync('{"export_id": "x", ') }), 400, /not valid JSON/);
            await rejectsWith(receiveUpload(store, settings, { headers, body: Buffer.from(upload.text) }), 400, /not gzip data/);
            await rejectsWith(receiveUpload(store, settings, { headers, body: upload.gzip.subarray(0, upload.gzip.length - 40) }), 400, /truncated/);
            await rejectsWith(receiveUpload(store, settings, { headers, body: Buffer.alloc(0) }), 400, /body is empty/);
            await rejectsWith(receiveUpload(store, settings, { headers, body: zlib.gzipSync('[1,2]') }), 400, /not an export object/);
        });

        it('an Idempotency-Key that is not the export_id', async () => {
            const upload = await exportUpload(boat);
            const headers = { ...boatHeaders(upload, boat.installationId), 'idempotency-key': 'export_other' };
            await rejectsWith(receiveUpload(store, settings, { headers, body: upload.gzip }), 400, /Idempotency-Key "export_other" is not the export's export_id/);
        });
    });

    it('exports of tier 1 and tier 3 are stored with their tier', async () => {
        for (const tier of [1, 3]) {
            const upload = alteredUpload(await exportUpload(boat), (j) => (j.tier = tier));
            assert.equal((await send(upload)).status, 'success');
            assert.equal((await readImportedExport(store, upload.export_id, FLEET_READER)).tier, tier);
        }
    });

    it('plain JSON without Content-Encoding is accepted too (an operator with curl), with or without a UTF-8 BOM', async () => {
        const upload = await exportUpload(boat);
        const headers: Record<string, string> = { authorization: `Bearer ${boat.installationId}` };
        const answer = await receiveUpload(store, settings, { headers, body: Readable.from([Buffer.from('\ufeff' + upload.text)]) });
        assert.equal(answer.status, 'success');
        assert.equal((await boatlog()).length, upload.json.data.boatlog.entry_count);
    });
});

describe('central ingest: who may upload', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let store: IngestStore;
    let upload: ExportUpload;
    const dataDir = () => path.join(scratch.dir, 'central');

    before(async () => {
        scratch = scratchFolder('ingest-access');
        boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 15, telemetryRows: 5 });
        upload = await exportUpload(boat);
        store = await IngestStore.open(dataDir());
        fs.writeFileSync(path.join(dataDir(), 'devices.json'), JSON.stringify({ 'token-of-this-boat': boat.installationId, 'token-of-another': 'ffffeeeeddddcccc' }));
    });
    after(async () => {
        await store.close();
        scratch.remove();
    });

    const sendAs = (mode: 'open' | 'tokens', headers: Record<string, string>) => receiveUpload(store, { dataDir: dataDir(), mode, maxBodyBytes: 16 * 1024 * 1024 }, { headers, body: upload.gzip });

    it('tokens mode: an unknown token, a missing header and a malformed one are 401', async () => {
        await rejectsWith(sendAs('tokens', boatHeaders(upload, 'made-up-token')), 401, /device token is not known/);
        await rejectsWith(sendAs('tokens', { 'content-encoding': 'gzip' }), 401, /no Authorization header/);
        await rejectsWith(sendAs('tokens', { ...boatHeaders(upload, ''), authorization: 'Basic abc' }), 401, /not "Bearer <device token>"/);
        // The installation_id is not a token in tokens mode unless the operator listed it.
        await rejectsWith(sendAs('tokens', boatHeaders(upload, boat.installationId)), 401, /device token is not known/);
        assert.equal((await store.counts()).exports, 0);
    });

    it("tokens mode: another boat's token is 403, naming both installations", async () => {
        await rejectsWith(sendAs('tokens', boatHeaders(upload, 'token-of-another')), 403, new RegExp(`ffffeeeeddddcccc, not to ${boat.installationId}`));
    });

    it("open mode: a bearer that is not this export's installation_id is 401", async () => {
        await rejectsWith(sendAs('open', boatHeaders(upload, 'not-an-id')), 401, /not an installation_id/);
        await rejectsWith(sendAs('open', boatHeaders(upload, '0000000000000000')), 401, /does not match the export's installation_id/);
        assert.equal((await store.counts()).exports, 0);
    });

    it("tokens mode: this boat's token is let in", async () => {
        const answer = await sendAs('tokens', boatHeaders(upload, 'token-of-this-boat'));
        assert.equal(answer.status, 'success');
    });

    it('a devices.json in KEY=VALUE form refuses every upload with a 500 naming line and column, never any part of the token', async () => {
        const file = path.join(dataDir(), 'devices.json');
        const good = fs.readFileSync(file, 'utf8');
        const token = 'k3f9a7c2e1b0d4958e6f';
        fs.writeFileSync(file, `BOAT_DEVICE_TOKEN=${token}\n`);
        try {
            await assert.rejects(sendAs('tokens', boatHeaders(upload, token)), (err: any) => {
                assert.equal(err.statusCode, 500);
                assert.match(err.message, /devices\.json is not valid JSON at line 1, column 1/);
                assertNoPartOf(`BOAT_DEVICE_TOKEN=${token}`, err.message);
                return true;
            });
            fs.writeFileSync(file, `{\n  "token-of-this-boat": "${boat.installationId}",\n  "${token}" ${boat.installationId}\n}`);
            await assert.rejects(sendAs('tokens', boatHeaders(upload, 'token-of-this-boat')), (err: any) => {
                assert.match(err.message, /devices\.json is not valid JSON at line 3, column 26/);
                assertNoPartOf(token, err.message);
                return true;
            });
        } finally {
            fs.writeFileSync(file, good);
        }
    });
});

describe('central ingest: who may read', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;
    let boat: DemoBoat;
    let twin: DemoBoat;
    let twinUpload: ExportUpload;
    const dataDir = () => path.join(scratch.dir, 'central');
    const tokens = (): IngestSettings => ({ dataDir: dataDir(), mode: 'tokens', maxBodyBytes: 16 * 1024 * 1024 });
    const readerFor = (token?: string) => admitReader('tokens', token === undefined ? undefined : `Bearer ${token}`, dataDir());

    before(async () => {
        scratch = scratchFolder('ingest-readers');
        boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 10, telemetryRows: 5 });
        twin = await demoBoatIn(scratch.dir, 'twin', { boatlogRows: 10, telemetryRows: 5, installationId: '0123456789abcdef' });
        store = await IngestStore.open(dataDir());
        fs.writeFileSync(path.join(dataDir(), 'devices.json'), JSON.stringify({ 'token-of-boat': boat.installationId, 'token-of-twin': twin.installationId }));
        fs.writeFileSync(path.join(dataDir(), 'operators.json'), JSON.stringify(['operator-token']));
        for (const [own, token] of [
            [boat, 'token-of-boat'],
            [twin, 'token-of-twin'],
        ] as const) {
            const upload = await exportUpload(own);
            await receiveUpload(store, tokens(), { headers: boatHeaders(upload, token), body: upload.gzip });
            if (own === twin) twinUpload = upload;
        }
    });
    after(async () => {
        await store.close();
        scratch.remove();
    });

    it('tokens mode: reading with no token, a malformed header or an unknown token is 401', async () => {
        await rejectsWith(readerFor(), 401, /no Authorization header was sent; send "Authorization: Bearer <operator or device token>"/);
        await rejectsWith(admitReader('tokens', 'Basic b3BlcmF0b3I6eA==', dataDir()), 401, /not "Bearer/);
        await rejectsWith(readerFor('made-up'), 401, /reading needs an operator token \(operators\.json\) or a device token \(devices\.json\)/);
    });

    it('an operator token in operators.json reads every installation', async () => {
        const operator = await readerFor('operator-token');
        assert.deepEqual((await listInstallations(store, operator)).installations.map((i) => i.installation_id).sort(), [twin.installationId, boat.installationId].sort());
        const rows = await readCategory(store, { installation_id: twin.installationId, category: 'boatlog' }, operator);
        assert.equal(rows.count, twinUpload.json.data.boatlog.entry_count);
    });

    it("a device token reads its own installation, and another boat's is 403 whether or not it exists", async () => {
        const device = await readerFor('token-of-boat');
        const own = await readCategory(store, { installation_id: boat.installationId, category: 'boatlog' }, device);
        assert.ok(own.count > 0);
        await rejectsWith(
            readCategory(store, { installation_id: twin.installationId, category: 'boatlog' }, device),
            403,
            new RegExp(`reads installation ${boat.installationId} only, not ${twin.installationId}`),
        );
        await rejectsWith(readCategory(store, { installation_id: 'ffffffffffffffff', category: 'boatlog' }, device), 403, /only/);
    });

    it("a device token lists only its own installation and cannot see another boat's export", async () => {
        const device = await readerFor('token-of-boat');
        assert.deepEqual(
            (await listInstallations(store, device)).installations.map((i) => i.installation_id),
            [boat.installationId],
        );
        await rejectsWith(readImportedExport(store, twinUpload.export_id, device), 404, new RegExp(`no export "${twinUpload.export_id}" has been imported from installation ${boat.installationId}`));
        assert.equal((await readImportedExport(store, twinUpload.export_id, await readerFor('operator-token'))).installation_id, twin.installationId);
    });

    it('open mode: anyone reads, with or without a header', async () => {
        assert.deepEqual(await admitReader('open', undefined, dataDir()), FLEET_READER);
        assert.deepEqual(await admitReader('open', 'Bearer whatever', dataDir()), FLEET_READER);
    });

    it('health in tokens mode tells anyone but an operator only status and mode', async () => {
        for (const header of [undefined, 'Bearer made-up', 'Bearer token-of-boat', 'Basic x']) {
            assert.deepEqual(await health(store, tokens(), await readerIfAny(tokens(), header)), { status: 'ok', mode: 'tokens', accept_encoding: ['br', 'gzip'] }, String(header));
        }
        const full = (await health(store, tokens(), await readerIfAny(tokens(), 'Bearer operator-token'))) as HealthAnswer;
        assert.deepEqual([full.installations, full.exports], [2, 2]);
        const open = (await health(store, { ...tokens(), mode: 'open' })) as HealthAnswer;
        assert.equal(open.installations, 2);
    });

    it('a malformed operators.json is a 500 naming where it breaks, never quoting a token', async () => {
        const file = path.join(dataDir(), 'operators.json');
        fs.writeFileSync(file, 'OPERATOR=op-secret-4471\n');
        try {
            await assert.rejects(readerFor('op-secret-4471'), (err: any) => {
                assert.equal(err.statusCode, 500);
                assert.match(err.message, /operators\.json is not valid JSON at line 1, column 1/);
                assertNoPartOf('OPERATOR=op-secret-4471', err.message);
                return true;
            });
            fs.writeFileSync(file, JSON.stringify({ 'operator-token': true }));
            await rejectsWith(readerFor('operator-token'), 500, /operators\.json must hold \["<operator token>", …\]/);
        } finally {
            fs.writeFileSync(file, JSON.stringify(['operator-token']));
        }
    });
});
