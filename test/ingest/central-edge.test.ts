import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { RunningNodeRed } from '../../tools/node-red-runtime';
import { call, startCentral } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { forEachStore } from './stores';
import { smallExport } from './uploads';

// flows/central-ingest.json on a real Node-RED 4.1 (npm run build first), tokens mode: what a browser, an
// operator and a boat are answered at the edge, and the erasure of a boat over HTTP.

const BOAT = 'b0a7b0a7b0a7b0a7';
const DEVICE = 'device-token-of-the-boat-000000';
const OPERATOR = 'operator-token-000000000000000';

const corsHeaders = (headers: Headers) => [...headers.keys()].filter((name) => name.toLowerCase().startsWith('access-control-'));

/** An answer a client can act on: JSON {status: "error", error}, no HTML, stack trace or path of the server's. */
function assertPlainJsonError(answer: { status: number; text: string; json: any; headers: Headers }, status: number): void {
    assert.equal(answer.status, status, answer.text);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(answer.json?.status, 'error', answer.text);
    assert.doesNotMatch(answer.text, /<|\bat \w|\/(tmp|work|root|home|usr)\//, answer.text);
}

forEachStore('central ingest on Node-RED: the edge and the erasure of a boat', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let central: RunningNodeRed;
    let dataDir: string;

    const upload = (token: string, exportId: string) =>
        fetch(`${central.url}/api/v1/data/import`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-encoding': 'gzip', 'idempotency-key': exportId },
            body: new Uint8Array(zlib.gzipSync(smallExport(BOAT, exportId, 20))),
        });

    before(async () => {
        scratch = scratchFolder('central-edge');
        dataDir = path.join(scratch.dir, 'central-data');
        fs.mkdirSync(dataDir, { recursive: true });
        fs.writeFileSync(path.join(dataDir, 'devices.json'), JSON.stringify({ [DEVICE]: BOAT }));
        fs.writeFileSync(path.join(dataDir, 'operators.json'), JSON.stringify([OPERATOR]));
        central = await startCentral(scratch.dir, { D3KOS_INGEST_MODE: 'tokens', D3KOS_INGEST_DATABASE_URL: await kind.freshDatabase() });
        const first = await upload(DEVICE, 'export_first');
        assert.equal(first.status, 200, await first.text());
    });
    after(async () => {
        await central?.stop();
        scratch.remove();
    });

    it('no ingest answer carries Access-Control-*, preflights included', async () => {
        const origin = { origin: 'http://evil.example' };
        for (const urlPath of ['/api/v1/data/import', `/api/v1/installations/${BOAT}/boatlog`, '/api/v1/health', `/api/v1/installations/${BOAT}`]) {
            const preflight = await call(central, 'OPTIONS', urlPath, {
                headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
            });
            assert.deepEqual(corsHeaders(preflight.headers), [], `OPTIONS ${urlPath}`);
            assert.equal(preflight.status, 204);
        }
        const read = await call(central, 'GET', `/api/v1/installations/${BOAT}/boatlog`, { headers: { ...origin, authorization: `Bearer ${OPERATOR}` } });
        assert.equal(read.status, 200, read.text);
        assert.deepEqual(corsHeaders(read.headers), []);
        const health = await call(central, 'GET', '/api/v1/health', { headers: origin });
        assert.deepEqual(corsHeaders(health.headers), []);
    });

    it('an operator token used for an upload is 403: operator tokens read, device tokens upload', async () => {
        const res = await upload(OPERATOR, 'export_by_operator');
        assert.equal(res.status, 403);
        assert.match((await res.json()).error, /operator tokens read, device tokens upload/);
    });

    it('errors no route answered are JSON without stack or path: a bad escape in the path, a 5 MB JSON POST nobody serves, a broken JSON body', async () => {
        assertPlainJsonError(await call(central, 'GET', '/api/v1/installations/%ZZ/boatlog', { headers: { authorization: `Bearer ${OPERATOR}` } }), 400);
        const big = JSON.stringify({ note: 'x'.repeat(5.5 * 1024 * 1024) });
        for (const urlPath of ['/api/v1/nowhere', '/nowhere']) {
            const answer = await call(central, 'POST', urlPath, { body: big, headers: { 'content-type': 'application/json' } });
            assertPlainJsonError(answer, 413);
        }
        assertPlainJsonError(await call(central, 'POST', '/api/v1/nowhere', { body: '{"a": "\\x"}', headers: { 'content-type': 'application/json' } }), 400);
    });

    it('DELETE /api/v1/installations/:id erases the boat for an operator only, with a confirmation, and its uploads are refused after', async () => {
        const urlPath = `/api/v1/installations/${BOAT}?confirm=${BOAT}`;
        const anonymous = await call(central, 'DELETE', urlPath);
        assert.equal(anonymous.status, 401, anonymous.text);
        const device = await call(central, 'DELETE', urlPath, { headers: { authorization: `Bearer ${DEVICE}` } });
        assert.equal(device.status, 403, device.text);
        const unconfirmed = await call(central, 'DELETE', `/api/v1/installations/${BOAT}`, { headers: { authorization: `Bearer ${OPERATOR}` } });
        assert.equal(unconfirmed.status, 400, unconfirmed.text);
        assert.match(unconfirmed.json.error, /confirm it with \?confirm=/);
        assert.equal((await call(central, 'GET', `/api/v1/installations/${BOAT}/boatlog`, { headers: { authorization: `Bearer ${OPERATOR}` } })).json.total, 20, 'nothing erased yet');

        const erased = await call(central, 'DELETE', `/api/v1/installations/${BOAT}`, {
            headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
            body: JSON.stringify({ confirm: BOAT }),
        });
        assert.equal(erased.status, 200, erased.text);
        assert.deepEqual(corsHeaders(erased.headers), []);
        assert.equal(erased.json.removed.category_rows, 20);
        assert.equal(erased.json.removed.imported_exports, 1);
        assert.equal(erased.json.removed.device_tokens, 1);
        assert.match(erased.json.let_in_again, /devices\.json/);

        const gone = await call(central, 'GET', `/api/v1/installations/${BOAT}/boatlog`, { headers: { authorization: `Bearer ${OPERATOR}` } });
        assert.equal(gone.status, 404, gone.text);
        const refused = await upload(DEVICE, 'export_after');
        assert.equal(refused.status, 403);
        assert.match((await refused.json()).error, /was erased from the central database/);
    });
});
