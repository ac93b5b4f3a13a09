import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as vm from 'vm';
import type { AddressInfo } from 'net';
import { helper, nextMessage } from '../support/node-red';
import requestGuardNode = require('../../nodes/request-guard/request-guard');
import { parseBodyShape } from '../../lib/http/body-shape';
import { parseHostList } from '../../lib/http/boat-hosts';

const flow = [
    { id: 'guard', type: 'd3kos-request-guard', allowedOrigins: '', allowedHosts: 'boat', body: 'mode?: full|incremental', wires: [['allowed'], ['refused']] },
    { id: 'allowed', type: 'helper' },
    { id: 'refused', type: 'helper' },
];

describe('request-guard node', () => {
    afterEach(() => helper.unload());

    it('sends a same-origin POST on with its JSON body parsed', async () => {
        await helper.load(requestGuardNode, flow);
        const received = nextMessage(helper.getNode('allowed'));
        const req = { method: 'POST', path: '/export/generate', headers: { host: 'boat:1880', origin: 'http://boat:1880', 'content-type': 'application/json' }, query: {} };
        helper.getNode('guard').receive({ req, payload: Buffer.from('{"mode":"full"}') });
        assert.deepEqual((await received).payload, { mode: 'full' });
    });

    it('answers a cross-site POST on the second output with 403 and {success:false,error}', async () => {
        await helper.load(requestGuardNode, flow);
        let passed = false;
        helper.getNode('allowed').on('input', () => (passed = true));
        const received = nextMessage(helper.getNode('refused'));
        const req = { method: 'POST', path: '/export/generate', headers: { host: 'boat:1880', origin: 'https://evil.example' }, query: {} };
        helper.getNode('guard').receive({ req, payload: Buffer.alloc(0) });
        const msg = await received;
        assert.equal(msg.statusCode, 403);
        assert.equal(msg.payload.success, false);
        assert.match(msg.payload.error, /cross-site request refused/);
        assert.equal(passed, false);
    });

    it('removes a JSONP callback from a GET so no page elsewhere can read the answer', async () => {
        await helper.load(requestGuardNode, flow);
        const received = nextMessage(helper.getNode('allowed'));
        const req = { method: 'GET', path: '/tier/status', headers: { host: 'boat:1880' }, query: { callback: 'steal', other: '1' } };
        helper.getNode('guard').receive({ req, payload: req.query });
        const msg = await received;
        assert.deepEqual(msg.req.query, { other: '1' });
    });

    it('a message that did not come from http in is an error, not a pass', async () => {
        await helper.load(requestGuardNode, flow);
        const guard = helper.getNode('guard');
        const error = new Promise<any>((resolve) => guard.on('call:error', (call: any) => resolve(call.args[0])));
        guard.receive({ payload: 'x' });
        assert.match((await error).message, /msg.req is missing/);
    });
});

// The guard in front of real http-in routes, on a real server on 127.0.0.1: the shared middleware reads the body
// under the cap before Node-RED does, answers the boat's names only, and leaves nothing behind on close.
const httpNodes = require('@node-red/nodes/core/network/21-httpin.js');
const changeNode = require('@node-red/nodes/core/function/15-change.js');
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

let nodeApp: any;
const captureNodeApp = (RED: any) => {
    nodeApp = RED.httpNode;
};

const answered = { t: 'set', p: 'payload', pt: 'msg', tot: 'jsonata', to: '{"success": true, "got": payload}' };
const routesFlow = (tickedBody = false) => [
    { id: 'tab', type: 'tab' },
    { id: 'generate-in', z: 'tab', type: 'http in', url: '/t/generate', method: 'post', skipBodyParsing: false, wires: [['guard']] },
    { id: 'ticked-in', z: 'tab', type: 'http in', url: '/t/ticked', method: 'post', skipBodyParsing: true, wires: [['guard']] },
    { id: 'download-in', z: 'tab', type: 'http in', url: '/t/download/:name', method: 'get', wires: [['reads']] },
    {
        id: 'guard',
        z: 'tab',
        type: 'd3kos-request-guard',
        allowedOrigins: '',
        allowedHosts: 'boat.local',
        body: tickedBody ? 'mode: everything' : 'mode?: full|incremental',
        wires: [['work'], ['answer']],
    },
    { id: 'reads', z: 'tab', type: 'd3kos-request-guard', allowedOrigins: '', allowedHosts: '', body: '', wires: [['work'], ['answer']] },
    { id: 'work', z: 'tab', type: 'change', rules: [answered], wires: [['answer']] },
    { id: 'answer', z: 'tab', type: 'http response', wires: [] },
];

describe('request-guard node in front of http-in routes, over HTTP', function () {
    this.timeout(30000);
    let server: http.Server;
    let baseUrl = '';

    before(async () => {
        server = http.createServer((req, res) => (nodeApp ? nodeApp(req, res) : res.writeHead(503).end()));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
    });
    afterEach(() => helper.unload());

    const load = async (flow = routesFlow()) => {
        await helper.load([requestGuardNode, httpNodes, changeNode, catchNode, captureNodeApp], flow);
    };
    async function call(method: string, urlPath: string, init: { headers?: Record<string, string>; body?: string } = {}) {
        const res = await fetch(baseUrl + urlPath, { method, headers: init.headers, body: init.body });
        const text = await res.text();
        return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: JSON.parse(text) };
    }

    it('a JSON body reaches the flow parsed, whether or not the http in node parses bodies', async () => {
        await load();
        for (const route of ['/t/generate', '/t/ticked']) {
            const answer = await call('POST', route, { headers: { 'Content-Type': 'application/json' }, body: '{"mode":"incremental"}' });
            assert.equal(answer.status, 200, `${route}: ${answer.text}`);
            assert.deepEqual(answer.json, { success: true, got: { mode: 'incremental' } });
        }
    });

    it('a body over 64 KB is refused 413 before the flow runs, and the guard counts it', async () => {
        await load();
        const guard = helper.getNode('guard');
        const statuses: any[] = [];
        guard.on('call:status', (call: any) => statuses.push(call.args[0]));
        let ran = false;
        helper.getNode('work').on('input', () => (ran = true));
        const answer = await call('POST', '/t/generate', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ mode: 'full', pad: 'x'.repeat(70 * 1024) }) });
        assert.equal(answer.status, 413);
        assert.match(answer.type, /application\/json/);
        assert.match(answer.json.error, /larger than 64 KB/);
        assert.equal(ran, false);
        assert.deepEqual([statuses.at(-1)?.fill, statuses.at(-1)?.text], ['yellow', 'request-guard.status.refused']);
    });

    it('a flood of refusals is one warning in the log, every refusal counted on the status', async () => {
        await load();
        const guard = helper.getNode('guard');
        let warnings = 0;
        let statuses = 0;
        guard.on('call:warn', () => warnings++);
        guard.on('call:status', () => statuses++);
        for (let i = 0; i < 20; i++) await call('POST', '/t/generate', { headers: { 'Content-Type': 'application/json' }, body: '{"flood":true}' });
        assert.equal(statuses, 20);
        assert.equal(warnings, 1);
    });

    it("a Host that is not one of the boat's names is refused 403 on every route it guards, a listed one passes", async () => {
        await load();
        // fetch sets Host itself: a raw request says what a rebinding page's browser would.
        const raw = await new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = http.request(baseUrl + '/t/generate', { method: 'POST', headers: { Host: 'evil.example:1880', 'Content-Type': 'application/json' }, setHost: false });
            req.on('response', (res) => {
                let body = '';
                res.on('data', (c) => (body += c));
                res.on('end', () => resolve({ status: res.statusCode!, body }));
            });
            req.on('error', reject);
            req.end('{"mode":"full"}');
        });
        assert.equal(raw.status, 403, raw.body);
        assert.match(JSON.parse(raw.body).error, /"evil\.example" as the boat/);
        const listed = await new Promise<number>((resolve, reject) => {
            const req = http.request(baseUrl + '/t/generate', { method: 'POST', headers: { Host: 'boat.local', 'Content-Type': 'application/json' }, setHost: false });
            req.on('response', (res) => (res.resume(), resolve(res.statusCode!)));
            req.on('error', reject);
            req.end('{}');
        });
        assert.equal(listed, 200);
    });

    it('fields the route does not declare are a 400 from the guard naming them', async () => {
        await load();
        const answer = await call('POST', '/t/generate', { headers: { 'Content-Type': 'application/json' }, body: '{"dryRun":true}' });
        assert.equal(answer.status, 400);
        assert.equal(answer.json.error, 'the request body is refused: unknown field "dryRun" (this route takes mode?: full|incremental)');
    });

    it('a method the path does not serve is a JSON 405, a broken %-escape a JSON 400', async () => {
        await load();
        const put = await call('PUT', '/t/generate');
        assert.equal(put.status, 405);
        assert.equal(put.json.code, 'METHOD_NOT_ALLOWED');
        const escape = await call('GET', '/t/download/%zz');
        assert.equal(escape.status, 400);
        assert.equal(escape.json.code, 'PATH_INVALID');
        assert.equal((await call('GET', '/t/download/d3kos_backup.tar.gz')).status, 200);
    });

    it('a body setting it cannot read makes the guard refuse every request instead of letting bodies through', async () => {
        const flow = routesFlow();
        flow.find((n) => n.id === 'guard')!.body = 'mode: anything goes';
        await load(flow);
        const answer = await call('POST', '/t/generate', { headers: { 'Content-Type': 'application/json' }, body: '{"mode":"full"}' });
        assert.equal(answer.status, 500);
        assert.match(answer.json.error, /cannot read "mode: anything goes" in the body setting/);
    });

    it('on close the shared middleware leaves the server: no guard, no middleware', async () => {
        await load();
        const ours = () => (nodeApp._router?.stack ?? []).filter((layer: any) => ['guardRequest', 'resumeAfterCapture', 'answerErrors'].includes(layer.handle?.name)).length;
        assert.equal(ours(), 3);
        await helper.unload();
        assert.equal(ours(), 0);
    });

    it('a message whose error cannot be cloned for a Catch node is contained: logged, not thrown', async () => {
        await helper.load(
            [requestGuardNode, catchNode],
            [
                { id: 'tab', type: 'tab' },
                { id: 'guard', z: 'tab', type: 'd3kos-request-guard', allowedOrigins: '', wires: [[], []] },
                { id: 'guard-catch', z: 'tab', type: 'catch', scope: ['guard'], wires: [[]] },
            ],
        );
        const guard = helper.getNode('guard');
        const logged = new Promise<any>((resolve) => guard.on('call:error', (call: any) => /could not be passed on/.test(String(call.args[0])) && resolve(call.args[0])));
        let deep: unknown = 1;
        for (let i = 0; i < 200000; i++) deep = [deep];
        guard.receive({ payload: deep });
        assert.match(String(await logged), /msg.req is missing\) \(and it could not be passed on: Maximum call stack size exceeded\)/);
    });
});

describe('request-guard editor: the checks before deploy agree with what the runtime can read', () => {
    // The editor's own script, run as the editor would run it; registerType hands over the node's definition.
    const html = fs.readFileSync(path.join(__dirname, '../../nodes/request-guard/request-guard.html'), 'utf8');
    const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html)![1];
    let definition: any;
    vm.runInNewContext(script, { RED: { nodes: { registerType: (_type: string, def: any) => (definition = def) } } });
    const valid = (field: string, value: string) => definition.defaults[field].validate.call({}, value);
    const runtimeReads = (read: () => unknown) => {
        try {
            read();
            return true;
        } catch {
            return false;
        }
    };

    it('a body setting is valid in the editor exactly when the runtime can read it', () => {
        const samples = [
            '',
            'mode?: full|incremental',
            'dry_run?: boolean, max_age_days?: integer 1..365',
            'name: backup-name\nkeep_installation_id?: boolean',
            'note?: string 64',
            'mode',
            'mode: anything',
            'a: boolean, a: boolean',
            '1x: boolean',
            'x: string -1',
            'label: name',
        ];
        for (const sample of samples)
            assert.equal(
                valid('body', sample),
                runtimeReads(() => parseBodyShape(sample)),
                JSON.stringify(sample),
            );
    });

    it('boat names and origins are checked before deploy', () => {
        for (const names of ['', 'd3kos.local, helm', '192.168.1.20 fe80::1']) assert.equal(valid('allowedHosts', names), true, names);
        for (const names of ['http://d3kos.local', 'boat/x', 'a b/c']) assert.equal(valid('allowedHosts', names), false, names);
        for (const names of ['', 'd3kos.local, helm', '192.168.1.20', 'http://d3kos.local', 'boat/x'])
            assert.equal(
                valid('allowedHosts', names),
                runtimeReads(() => parseHostList(names, 'x')),
                names,
            );
        assert.equal(valid('allowedOrigins', 'http://helm.local:8080, https://boat'), true);
        assert.equal(valid('allowedOrigins', 'helm.local'), false);
    });
});
