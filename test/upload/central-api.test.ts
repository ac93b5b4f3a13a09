import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { checkCentral, checkExportFile, uploadExport, UploadOutcome } from '../../lib/upload/central-api';
import { scratchFolder } from '../support/folders';
import { closedPortUrl, FakeCentral } from './central-server';

const TOKEN = 'dev-token-5ecret-9f8e7d6c';

describe('the upload to the central API, against real local servers', function () {
    this.timeout(20000);
    let scratch: ReturnType<typeof scratchFolder>;
    let central: FakeCentral;
    let file: string;

    before(() => {
        scratch = scratchFolder('upload');
        file = path.join(scratch.dir, 'export_20261120_100000_000_ab12.json');
        // Big enough to be mid-body when a server drops it, and compressible like a real export.
        const rows = Array.from({ length: 20000 }, (_, i) => ({ entry_id: crypto.randomUUID(), timestamp: new Date(1.8e12 + i * 60000).toISOString(), content: `log ${i}` }));
        fs.writeFileSync(file, JSON.stringify({ export_id: 'export_20261120_100000_000_ab12', data: { boatlog: { entries: rows } } }));
    });
    after(() => scratch.remove());
    beforeEach(async () => (central = await FakeCentral.start()));
    afterEach(() => central.close());

    const upload = (options: { url?: string; timeoutMs?: number } = {}): Promise<UploadOutcome> =>
        uploadExport({ centralUrl: options.url ?? central.url, file, exportId: 'export_20261120_100000_000_ab12', token: TOKEN, timeoutMs: options.timeoutMs ?? 5000, healthTimeoutMs: 1000 });

    it('sends the export gzip-encoded with the token, the idempotency key and the content type; the server gets the file exactly', async () => {
        const outcome = await upload();
        assert.equal(outcome.kind, 'accepted');
        const [received] = central.uploads;
        assert.equal(received.headers.authorization, `Bearer ${TOKEN}`);
        assert.equal(received.headers['idempotency-key'], 'export_20261120_100000_000_ab12');
        assert.equal(received.headers['content-encoding'], 'gzip');
        assert.equal(received.headers['content-type'], 'application/json');
        assert.ok(received.body.equals(fs.readFileSync(file)), 'the gunzipped body is the export file, byte for byte');
        assert.ok(received.wireBytes < fs.statSync(file).size / 3, `gzip on the wire: ${received.wireBytes} bytes`);
        if (outcome.kind === 'accepted') {
            assert.equal(outcome.import_id, 'imp-1');
            assert.equal(outcome.records_imported, 3);
            assert.equal(outcome.bytes_sent, received.wireBytes);
        }
    });

    it('an "already imported" answer to a repeat is a success', async () => {
        central.answer = () => ({ status: 200, body: { status: 'success', import_id: 'imp-1', records_imported: 0, already_imported: true } });
        const repeat = await upload();
        assert.equal(repeat.kind, 'accepted');
        assert.equal(repeat.kind === 'accepted' && repeat.already_imported, true);
        central.answer = () => ({ status: 409, body: { error: 'export_20261120_100000_000_ab12 was already imported' } });
        assert.equal((await upload()).kind, 'accepted');
    });

    it('connection refused is out of reach, not a failed try (the network check did not gate uploads)', async () => {
        const url = await closedPortUrl();
        const outcome = await upload({ url });
        assert.equal(outcome.kind, 'unreachable');
        assert.match((outcome as { reason: string }).reason, /ECONNREFUSED/);
        const reach = await checkCentral(url, { timeoutMs: 1000 });
        assert.equal(reach.reachable, false);
    });

    it('a server that drops the connection mid-body, while its health check answers, costs a try', async () => {
        central.answer = () => 'drop-mid-body';
        const outcome = await upload();
        assert.equal(outcome.kind, 'retry');
        assert.match((outcome as { reason: string }).reason, /did not finish/);
    });

    it('500 is retried later', async () => {
        central.answer = () => ({ status: 500, body: { error: 'database is restarting' } });
        const outcome = await upload();
        assert.equal(outcome.kind, 'retry');
        assert.equal(outcome.kind === 'retry' && outcome.status, 500);
        assert.match((outcome as { reason: string }).reason, /500 .*database is restarting/);
    });

    it('429 with Retry-After is retried no sooner than the server asks', async () => {
        central.answer = () => ({ status: 429, body: { error: 'slow down' }, headers: { 'Retry-After': '120' } });
        const outcome = await upload();
        assert.equal(outcome.kind, 'retry');
        assert.equal(outcome.kind === 'retry' && outcome.retry_after_ms, 120_000);
    });

    it('413 is failed at once with the reason', async () => {
        central.answer = () => ({ status: 413, body: { error: 'the export is larger than the 50 MB this server takes' } });
        const outcome = await upload();
        assert.equal(outcome.kind, 'rejected');
        assert.match((outcome as { reason: string }).reason, /413 .*larger than the 50 MB/);
    });

    it('401 is failed at once, and a server echoing the token does not put it in the reason', async () => {
        central.answer = (received) => ({ status: 401, body: { error: `unknown device token ${String(received.headers.authorization).slice(7)}` } });
        const outcome = await upload();
        assert.equal(outcome.kind, 'rejected');
        const reason = (outcome as { reason: string }).reason;
        assert.match(reason, /401 .*unknown device token \[redacted\]/);
        assert.ok(!reason.includes(TOKEN));
    });

    it('a server slower than the timeout costs a try, and the upload does not hang', async () => {
        central.answer = () => 'never-answer';
        const started = Date.now();
        const outcome = await upload({ timeoutMs: 300 });
        assert.equal(outcome.kind, 'retry');
        assert.match((outcome as { reason: string }).reason, /no answer in time/);
        assert.ok(Date.now() - started < 15000);
    });

    describe('uploads "succeeded" against a placeholder', () => {
        for (const [what, answer] of [
            ['an empty 200', { status: 200 }],
            ['a non-JSON 200', { status: 200, body: '<html>It works!</html>' }],
            ['a 200 JSON that is not an import confirmation', { status: 200, body: { ok: 'maybe' } }],
            ['a 204', { status: 204 }],
        ] as const) {
            it(`${what} is not a success`, async () => {
                central.answer = () => answer;
                const outcome = await upload();
                assert.equal(outcome.kind, 'retry');
                assert.match((outcome as { reason: string }).reason, /did not confirm the import/);
            });
        }

        it('a captive portal answering the health check with a page is not the central API', async () => {
            central.health = () => ({ status: 200, body: '<html>Marina Wi-Fi: log in</html>' });
            const reach = await checkCentral(central.url);
            assert.equal(reach.reachable, false);
            assert.match((reach as { reason: string }).reason, /captive portal/);
        });

        it('a health check answered 404 is not a reachable central API', async () => {
            central.health = () => ({ status: 404, body: '{"error":"no such route"}' });
            assert.equal((await checkCentral(central.url)).reachable, false);
        });
    });

    describe('credentials an installer put in the central URL', () => {
        const withSecrets = (url: string, tail = '') => url.replace('http://', 'http://boat-7:pa55-w0rd@') + tail;
        const assertClean = (reason: string, host: string) => {
            assert.ok(reason.includes(host), `the reason still names the central API: ${reason}`);
            for (const secret of ['boat-7', 'pa55-w0rd', 'api_key', 'k3y-v4lue']) assert.ok(!reason.includes(secret), `"${secret}" is in the reason: ${reason}`);
        };

        it('reach no health-check reason: not an answer, not a page, not out of reach', async () => {
            const host = central.url.slice('http://'.length);
            // The query string makes the health path a query: the server answers 404.
            const answered = await checkCentral(withSecrets(central.url, '/?api_key=k3y-v4lue'));
            assert.match((answered as { reason: string }).reason, /answered 404/);
            assertClean((answered as { reason: string }).reason, host);

            central.health = () => ({ status: 200, body: '<html>Marina Wi-Fi: log in</html>' });
            const portal = await checkCentral(withSecrets(central.url));
            assert.match((portal as { reason: string }).reason, /captive portal/);
            assertClean((portal as { reason: string }).reason, host);

            const closed = await closedPortUrl();
            const away = await checkCentral(withSecrets(closed, '?api_key=k3y-v4lue'), { timeoutMs: 1000 });
            assert.match((away as { reason: string }).reason, /out of reach/);
            assertClean((away as { reason: string }).reason, closed.slice('http://'.length));
        });

        it('reach no upload reason when the link drops mid-upload and the health check fails', async () => {
            central.answer = () => 'drop-mid-body';
            central.health = () => ({ status: 503, body: '{"error":"down"}' });
            const outcome = await upload({ url: withSecrets(central.url) });
            assert.equal(outcome.kind, 'unreachable');
            assertClean((outcome as { reason: string }).reason, central.url.slice('http://'.length));
        });
    });

    describe('the export file before an upload', () => {
        it('a missing export file is named as missing (a missing file retried forever)', async () => {
            const reason = await checkExportFile(path.join(scratch.dir, 'export_gone.json'), null);
            assert.match(reason!, /export_gone\.json is missing/);
        });

        it('a file changed since it was made is caught by its checksum', async () => {
            const copy = path.join(scratch.dir, 'export_copy.json');
            fs.writeFileSync(copy, '{"a":1}');
            const sha = crypto.createHash('sha256').update('{"a":1}').digest('hex');
            assert.equal(await checkExportFile(copy, sha), null);
            fs.writeFileSync(copy, '{"a":2}');
            assert.match((await checkExportFile(copy, sha))!, /changed after it was made/);
        });
    });
});
