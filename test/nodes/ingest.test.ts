import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import * as zlib from 'zlib';
import { helper } from '../support/node-red';
import { scratchFolder } from '../support/folders';
import { DemoBoat } from '../../tools/demo-boat';
import { boatHeaders, demoBoatIn, ExportUpload, exportUpload, gzipBomb } from '../ingest/uploads';
import { storedEntry } from '../../lib/ingest/stored-entry';
import ingestNode = require('../../nodes/ingest/ingest');
import vaultNode = require('../../nodes/backup-vault/backup-vault');
import fleetPageNode = require('../../nodes/fleet-page/fleet-page');
import fleetWatchNode = require('../../nodes/fleet-watch/fleet-watch');

const httpNodes = require('@node-red/nodes/core/network/21-httpin.js');
const catchNode = require('@node-red/nodes/core/common/25-catch.js');
const changeNode = require('@node-red/nodes/core/function/15-change.js');
const debugNode = require('@node-red/nodes/core/common/21-debug.js');
const commentNode = require('@node-red/nodes/core/common/90-comment.js');

// The test helper gives http-in nodes an express app of their own but serves it nowhere: a real server on 127.0.0.1 does.
let nodeApp: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
const captureNodeApp = (RED: any) => {
    nodeApp = RED.httpNode;
};
// The shipped central flow also holds the vault of the boats' encrypted backups, and the fleet page and watch.
const NODES = [ingestNode, vaultNode, fleetPageNode, fleetWatchNode, httpNodes, catchNode, changeNode, debugNode, commentNode, captureNodeApp];
let server: http.Server;
let baseUrl = '';

async function startServer(): Promise<void> {
    server = http.createServer((req, res) => (nodeApp ? nodeApp(req, res) : res.writeHead(503).end()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function stopServer(): Promise<void> {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
}

const nodeRouter = () => (nodeApp as any)?._router as { stack: any[] } | undefined;

/** Sends only the headers of a POST and waits for the answer; `sent` is how many body bytes went out (none). */
function postHeadersOnly(urlPath: string, headers: Record<string, string>): Promise<{ status: number; text: string; sent: number }> {
    return new Promise((resolve, reject) => {
        const req = http.request(baseUrl + urlPath, { method: 'POST', headers });
        req.on('response', (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => {
                req.destroy();
                resolve({ status: res.statusCode ?? 0, text, sent: 0 });
            });
        });
        req.on('error', reject);
        req.flushHeaders();
    });
}

/** The production central flow, as shipped in flows/central-ingest.json. */
const centralFlow = () => JSON.parse(fs.readFileSync(path.join(__dirname, '../../flows/central-ingest.json'), 'utf8'));

async function call(method: string, urlPath: string, init: { headers?: Record<string, string>; body?: Buffer | string } = {}) {
    const body = init.body === undefined || typeof init.body === 'string' ? init.body : new Uint8Array(init.body);
    const res = await fetch(baseUrl + urlPath, { method, headers: init.headers, body });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: JSON.parse(text) };
}

describe('ingest node in the central flow: the import on its own route, the reads behind http-in', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let upload: ExportUpload;
    const env = { D3KOS_INGEST_DIR: process.env.D3KOS_INGEST_DIR, D3KOS_INGEST_MODE: process.env.D3KOS_INGEST_MODE };

    before(async () => {
        scratch = scratchFolder('ingest-node');
        boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 30, telemetryRows: 20 });
        upload = await exportUpload(boat);
        await startServer();
    });
    after(async () => {
        await stopServer();
        scratch.remove();
        for (const [name, value] of Object.entries(env)) {
            if (value === undefined) delete process.env[name];
            else process.env[name] = value;
        }
    });
    beforeEach(async () => {
        process.env.D3KOS_INGEST_DIR = fs.mkdtempSync(path.join(scratch.dir, 'central-'));
        process.env.D3KOS_INGEST_MODE = 'open';
        await helper.load(NODES, centralFlow());
    });
    afterEach(() => helper.unload());

    it('an upload is stored and answered with success, and its rows read back over HTTP', async () => {
        const answer = await call('POST', '/api/v1/data/import', { headers: boatHeaders(upload, boat.installationId), body: upload.gzip });
        assert.equal(answer.status, 200, answer.text);
        assert.match(answer.type, /application\/json/);
        assert.equal(answer.json.status, 'success');
        assert.equal(answer.json.already_imported, false);

        const rows = await call('GET', `/api/v1/installations/${boat.installationId}/boatlog`);
        assert.equal(rows.status, 200, rows.text);
        assert.equal(rows.json.success, true);
        assert.equal(rows.json.count, upload.json.data.boatlog.entry_count);
        // A boatlog entry's weather, JSON text on the boat, is stored and read as the JSON it holds.
        assert.deepEqual(
            rows.json.entries,
            upload.json.data.boatlog.entries.map((entry: unknown) => JSON.parse(storedEntry('boatlog', JSON.stringify(entry)))),
        );

        const installations = await call('GET', '/api/v1/installations');
        assert.equal(installations.json.installations[0].installation_id, boat.installationId);
        assert.equal(installations.json.installations[0].export_count, 1);

        const exported = await call('GET', `/api/v1/exports/${upload.export_id}`);
        assert.equal(exported.json.import_id, answer.json.import_id);
        assert.equal(exported.json.mode, 'full');

        const health = await call('GET', '/api/v1/health');
        assert.equal(health.json.status, 'ok');
        assert.equal(health.json.mode, 'open');
        assert.equal(health.json.exports, 1);
    });

    it('the same export sent twice answers success twice with the same import_id', async () => {
        const first = await call('POST', '/api/v1/data/import', { headers: boatHeaders(upload, boat.installationId), body: upload.gzip });
        const second = await call('POST', '/api/v1/data/import', { headers: boatHeaders(upload, boat.installationId), body: upload.gzip });
        assert.equal(second.status, 200);
        assert.equal(second.json.already_imported, true);
        assert.equal(second.json.import_id, first.json.import_id);
    });

    it('every refusal is a JSON {status:"error", error} with its status code, never an HTML page', async () => {
        const headers = boatHeaders(upload, boat.installationId);
        const refusals: Array<[number, RegExp, Promise<Awaited<ReturnType<typeof call>>>]> = [
            [401, /no Authorization header/, call('POST', '/api/v1/data/import', { headers: { 'content-encoding': 'gzip' }, body: upload.gzip })],
            [401, /does not match the export's installation_id/, call('POST', '/api/v1/data/import', { headers: boatHeaders(upload, '0000000000000000'), body: upload.gzip })],
            [400, /not gzip data/, call('POST', '/api/v1/data/import', { headers, body: upload.text })],
            [400, /not valid JSON/, call('POST', '/api/v1/data/import', { headers, body: zlib.gzipSync('{"broken": ') })],
            [404, /category "anchors" is not known/, call('GET', `/api/v1/installations/${boat.installationId}/anchors`)],
            [404, /no export from installation/, call('GET', '/api/v1/installations/ffffffffffffffff/boatlog')],
            [404, /no export "export_nothing" has been imported/, call('GET', '/api/v1/exports/export_nothing')],
        ];
        for (const [status, message, pending] of refusals) {
            const answer = await pending;
            assert.equal(answer.status, status, answer.text);
            assert.match(answer.type, /application\/json/);
            assert.equal(answer.json.status, 'error');
            assert.match(answer.json.error, message);
            assert.doesNotMatch(answer.json.error, /^[A-Za-z]*Error: /, 'the answer speaks to the operator, not in class names');
        }
    });

    it('an upload declaring a Content-Length over the cap is answered 413 at once, before its body is sent', async () => {
        const started = Date.now();
        const { status, text, sent } = await postHeadersOnly('/api/v1/data/import', { ...boatHeaders(upload, boat.installationId), 'content-length': String(300 * 1024 * 1024) });
        assert.equal(status, 413, text);
        assert.match(JSON.parse(text).error, /the upload is 300 MB, more than the 256 MB this ingest accepts/);
        assert.equal(sent, 0);
        assert.ok(Date.now() - started < 15000, `answered after ${Date.now() - started} ms`);
    });

    it('a refused upload shows on the import node and is reported with its status code, for Catch nodes', async () => {
        const ingest = helper.getNode('central-ingest-import');
        const reported = new Promise<any>((resolve) => ingest.on('call:error', (call: any) => resolve(call)));
        const answer = await call('POST', '/api/v1/data/import', { headers: boatHeaders(upload, '0000000000000000'), body: upload.gzip });
        assert.equal(answer.status, 401);
        const { args } = await reported;
        assert.match(args[0].message, /does not match the export's installation_id/);
        assert.equal(args[1].statusCode, 401);
        assert.equal(args[1].error_code, 'INGEST_UNAUTHORIZED');
    });

    it('closing the import node removes exactly its route: POST import is then 404 and the reads still answer', async () => {
        await helper.getNode('central-ingest-import').close(true);
        const post = await fetch(baseUrl + '/api/v1/data/import', { method: 'POST', headers: boatHeaders(upload, boat.installationId), body: new Uint8Array(upload.gzip) });
        assert.equal(post.status, 404);
        const health = await call('GET', '/api/v1/health');
        assert.equal(health.status, 200, health.text);
        const routes = (nodeRouter()?.stack ?? []).filter((layer: any) => layer.route?.path === '/api/v1/data/import');
        assert.equal(routes.length, 0);
    });

    it('a gzip bomb is answered 400 in JSON at its first byte, and the ingest goes on taking uploads', async () => {
        const bomb = await gzipBomb(300);
        const answer = await call('POST', '/api/v1/data/import', { headers: { ...boatHeaders(upload, boat.installationId) }, body: bomb });
        assert.equal(answer.status, 400, answer.text);
        assert.match(answer.json.error, /the body is not valid JSON \(a value that is not JSON at byte 1\)/);
        const next = await call('POST', '/api/v1/data/import', { headers: boatHeaders(upload, boat.installationId), body: upload.gzip });
        assert.equal(next.json.status, 'success');
    });
});

describe('ingest node in the central flow, tokens mode: who may read', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let twin: DemoBoat;
    const env = { D3KOS_INGEST_DIR: process.env.D3KOS_INGEST_DIR, D3KOS_INGEST_MODE: process.env.D3KOS_INGEST_MODE };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    before(async () => {
        scratch = scratchFolder('ingest-node-readers');
        boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 10, telemetryRows: 5 });
        twin = await demoBoatIn(scratch.dir, 'twin', { boatlogRows: 10, telemetryRows: 5, installationId: '0123456789abcdef' });
        const dataDir = path.join(scratch.dir, 'central');
        fs.mkdirSync(dataDir);
        fs.writeFileSync(path.join(dataDir, 'devices.json'), JSON.stringify({ 'token-of-boat': boat.installationId, 'token-of-twin': twin.installationId }));
        fs.writeFileSync(path.join(dataDir, 'operators.json'), JSON.stringify(['operator-token']));
        process.env.D3KOS_INGEST_DIR = dataDir;
        process.env.D3KOS_INGEST_MODE = 'tokens';
        await startServer();
        await helper.load(NODES, centralFlow());
        for (const [own, token] of [
            [boat, 'token-of-boat'],
            [twin, 'token-of-twin'],
        ] as const) {
            const upload = await exportUpload(own);
            const answer = await call('POST', '/api/v1/data/import', { headers: boatHeaders(upload, token), body: upload.gzip });
            assert.equal(answer.status, 200, answer.text);
        }
    });
    after(async () => {
        await helper.unload();
        await stopServer();
        scratch.remove();
        for (const [name, value] of Object.entries(env)) {
            if (value === undefined) delete process.env[name];
            else process.env[name] = value;
        }
    });

    it('every read without a token, or with an unknown one, is a JSON 401', async () => {
        for (const urlPath of ['/api/v1/installations', `/api/v1/installations/${boat.installationId}/boatlog`, '/api/v1/exports/export_anything']) {
            for (const headers of [{}, bearer('made-up')]) {
                const answer = await call('GET', urlPath, { headers });
                assert.equal(answer.status, 401, `${urlPath}: ${answer.text}`);
                assert.equal(answer.json.status, 'error');
                assert.doesNotMatch(answer.text, new RegExp(boat.installationId));
            }
        }
    });

    it('an operator token reads every boat', async () => {
        const list = await call('GET', '/api/v1/installations', { headers: bearer('operator-token') });
        assert.equal(list.status, 200, list.text);
        assert.equal(list.json.count, 2);
        const rows = await call('GET', `/api/v1/installations/${twin.installationId}/boatlog`, { headers: bearer('operator-token') });
        assert.equal(rows.status, 200, rows.text);
        assert.ok(rows.json.count > 0);
    });

    it("a device token reads its own boat only: another boat's rows are 403, the list holds only its own", async () => {
        const own = await call('GET', `/api/v1/installations/${boat.installationId}/boatlog`, { headers: bearer('token-of-boat') });
        assert.equal(own.status, 200, own.text);
        const other = await call('GET', `/api/v1/installations/${twin.installationId}/boatlog`, { headers: bearer('token-of-boat') });
        assert.equal(other.status, 403, other.text);
        assert.equal(other.json.status, 'error');
        const list = await call('GET', '/api/v1/installations', { headers: bearer('token-of-boat') });
        assert.deepEqual(
            list.json.installations.map((i: any) => i.installation_id),
            [boat.installationId],
        );
    });

    it('health stays open, and tells an anonymous caller only status and mode', async () => {
        const anonymous = await call('GET', '/api/v1/health');
        assert.equal(anonymous.status, 200, anonymous.text);
        assert.deepEqual(anonymous.json, { status: 'ok', mode: 'tokens', accept_encoding: ['br', 'gzip'] });
        const device = await call('GET', '/api/v1/health', { headers: bearer('token-of-boat') });
        assert.deepEqual(device.json, { status: 'ok', mode: 'tokens', accept_encoding: ['br', 'gzip'] });
        const operator = await call('GET', '/api/v1/health', { headers: bearer('operator-token') });
        assert.deepEqual([operator.json.installations, operator.json.exports], [2, 2]);
    });
});

describe('ingest node settings', function () {
    this.timeout(30000);
    let scratch: ReturnType<typeof scratchFolder>;
    beforeEach(() => (scratch = scratchFolder('ingest-node-settings')));
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    it('an unknown mode shows on the node and fails each message with its reason', async () => {
        await helper.load(NODES, [{ id: 'ingest', type: 'd3kos-ingest', operation: 'health', dataDir: scratch.dir, mode: 'wide-open', wires: [[]] }]);
        const ingest = helper.getNode('ingest');
        const error = new Promise<any>((resolve) => ingest.on('call:error', (call: any) => resolve(call.args[0])));
        ingest.receive({ payload: {} });
        assert.match((await error).message, /ingest mode "wide-open" is not known; use "open" or "tokens"/);
    });

    it('with no data folder set it keeps its database in the Node-RED user folder, and closes it on redeploy', async () => {
        const flow = [
            { id: 'ingest', type: 'd3kos-ingest', operation: 'msg', dataDir: '', mode: 'tokens', wires: [['out']] },
            { id: 'out', type: 'helper' },
        ];
        helper.settings({ userDir: scratch.dir });
        try {
            await helper.load([ingestNode], flow);
            const received = new Promise<any>((resolve) => helper.getNode('out').once('input', resolve));
            helper.getNode('ingest').receive({ operation: 'health' });
            const msg = await received;
            assert.equal(msg.payload.status, 'ok');
            assert.equal(msg.payload.mode, 'tokens');
            assert.ok(fs.existsSync(path.join(scratch.dir, 'd3kos-ingest', 'ingest.db')));
            await helper.unload();
            // Closed: the WAL is checkpointed away when the last connection goes.
            assert.equal(fs.existsSync(path.join(scratch.dir, 'd3kos-ingest', 'ingest.db-wal')), false);
        } finally {
            helper.settings({});
        }
    });

    it('an http-in node that parses the body is named as the problem', async () => {
        const boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 5, telemetryRows: 5 });
        const upload = await exportUpload(boat);
        await startServer();
        try {
            await helper.load(NODES, [
                { id: 'parsed-tab', type: 'tab' },
                { id: 'parsed-in', z: 'parsed-tab', type: 'http in', url: '/parsed', method: 'post', wires: [['parsed-ingest']] },
                { id: 'parsed-ingest', z: 'parsed-tab', type: 'd3kos-ingest', operation: 'import', dataDir: scratch.dir, mode: 'open', wires: [['parsed-answer']] },
                { id: 'parsed-catch', z: 'parsed-tab', type: 'catch', scope: ['parsed-ingest'], wires: [['parsed-error']] },
                { id: 'parsed-error', z: 'parsed-tab', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'error.message', tot: 'msg' }], wires: [['parsed-answer']] },
                { id: 'parsed-answer', z: 'parsed-tab', type: 'http response' },
            ]);
            const answer = await fetch(baseUrl + '/parsed', { method: 'POST', headers: { ...boatHeaders(upload, boat.installationId), 'content-encoding': 'identity' }, body: upload.text });
            assert.equal(answer.status, 500);
            assert.match(await answer.text(), /tick its "Do not parse request body" option/);
        } finally {
            await stopServer();
        }
    });
});
