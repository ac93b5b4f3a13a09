import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import bcrypt from 'bcryptjs';
import { scratchFolder } from '../support/folders';
import { Reply, send } from './boat-on-the-network';
import { EditorBoat, startEditorBoat } from './editor-boat';

// Node-RED's editor on a boat as shipped (no adminAuth, listening on the boat's network), met by a web page any
// browser on board opened and by a stranger on the Wi-Fi; then the same boat with adminAuth set, where Node-RED's
// own rules stand.

const EVIL = 'http://evil.example';

/** A plain HTML form's body for POST /flow: a tab with an inject that fires at once into an exec node. */
function execFlowForm(marker: string): string {
    const fields: Array<[string, string]> = [
        ['label', 'pwned'],
        ['nodes[0][id]', 'pwn-inject'],
        ['nodes[0][type]', 'inject'],
        ['nodes[0][once]', 'true'],
        ['nodes[0][onceDelay]', '0.1'],
        ['nodes[0][wires][0][0]', 'pwn-exec'],
        ['nodes[1][id]', 'pwn-exec'],
        ['nodes[1][type]', 'exec'],
        ['nodes[1][command]', `id > ${marker}`],
        ['nodes[1][addpay]', ''],
    ];
    return fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

function crossSiteForm(boat: EditorBoat, marker: string, headers: Record<string, string> = {}): Promise<Reply> {
    return send(boat, {
        method: 'POST',
        path: '/flow',
        headers: { Origin: EVIL, Referer: `${EVIL}/prize.html`, 'Content-Type': 'application/x-www-form-urlencoded', 'Sec-Fetch-Site': 'cross-site', ...headers },
        body: execFlowForm(marker),
    });
}

async function deployedTypes(boat: EditorBoat, headers: Record<string, string> = {}): Promise<string[]> {
    const flows = await send(boat, { path: '/flows', headers: { 'Node-RED-API-Version': 'v2', ...headers } });
    assert.equal(flows.status, 200, flows.text);
    return flows.json.flows.map((n: { type: string }) => n.type);
}

/** A websocket upgrade of the editor's comms: the status line the boat answers with. */
function upgradeComms(boat: EditorBoat, headers: Record<string, string>, urlPath = '/comms'): Promise<number> {
    return new Promise((resolve, reject) => {
        const req = http.request({
            host: '127.0.0.1',
            port: boat.port,
            path: urlPath,
            setHost: false,
            headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
        });
        req.on('upgrade', (res, socket) => {
            socket.destroy();
            resolve(res.statusCode ?? 0);
        });
        req.on('response', (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('hostile network: the editor without a password is not a way in', function () {
    this.timeout(180000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: EditorBoat;
    const local = () => ({ host: `127.0.0.1:${boat.port}`, origin: `http://127.0.0.1:${boat.port}` });

    before(async () => {
        scratch = scratchFolder('editor-open');
        boat = await startEditorBoat(scratch.dir, { host: '0.0.0.0' });
    });
    after(async () => {
        await boat?.stop();
        scratch?.remove();
    });

    it('a cross-site form POST to /flow deploying an exec node is refused, and nothing is deployed or run', async () => {
        const marker = path.join(scratch.dir, 'pwned.txt');
        const answer = await crossSiteForm(boat, marker);
        assert.equal(answer.status, 403, answer.text);
        assert.equal(answer.json.success, false);
        assert.match(answer.json.error, /evil\.example may not use the editor; the Node-RED editor has no password/);
        // The same form without Origin or Referer (a page with referrerpolicy=no-referrer) is refused for its body.
        const bare = await send(boat, { method: 'POST', path: '/flow', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: execFlowForm(marker) });
        assert.equal(bare.status, 403, bare.text);
        await sleep(1500);
        assert.equal(fs.existsSync(marker), false, 'the exec node ran');
        const types = await deployedTypes(boat);
        assert.ok(!types.includes('exec'), 'an exec node was deployed');
    });

    it('a foreign Host (DNS rebinding) cannot read /flows, /settings or the editor page', async () => {
        for (const urlPath of ['/flows', '/settings', '/', '/red/red.min.js', '/context/global', '/nodes']) {
            const answer = await send(boat, { path: urlPath, host: 'evil.example:1880' });
            assert.equal(answer.status, 403, `${urlPath}: ${answer.text.slice(0, 200)}`);
            assert.equal(answer.json.code, 'HOST_NOT_BOAT');
            assert.ok(!('access-control-allow-origin' in answer.headers));
        }
    });

    it('preflights are refused without any Access-Control-Allow header; no answer grants another site CORS', async () => {
        const preflight = await send(boat, { method: 'OPTIONS', path: '/flows', headers: { Origin: EVIL, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
        assert.equal(preflight.status, 403);
        assert.deepEqual(
            Object.keys(preflight.headers).filter((h) => h.startsWith('access-control-')),
            [],
        );
        const read = await send(boat, { path: '/flows' });
        assert.equal(read.status, 200);
        assert.equal(read.headers['access-control-allow-origin'], undefined);
    });

    it('the editor keeps working from the boat: its page and files, JSON deploys from its own origin, its websocket', async () => {
        const page = await send(boat, { path: '/', headers: { Accept: 'text/html' } });
        assert.equal(page.status, 200);
        assert.match(page.text, /<title>Node-RED<\/title>/);
        assert.equal((await send(boat, { path: '/red/red.min.js', headers: { Referer: `http://127.0.0.1:${boat.port}/` } })).status, 200);
        assert.equal((await send(boat, { path: '/settings', headers: { 'Node-RED-API-Version': 'v2' } })).status, 200);

        const flow = { label: 'helm test', nodes: [{ id: 'helm-inject', type: 'inject', wires: [[]] }] };
        const added = await send(boat, {
            method: 'POST',
            path: '/flow',
            headers: { Origin: local().origin, Referer: `${local().origin}/`, 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2' },
            body: JSON.stringify(flow),
        });
        assert.equal(added.status, 200, added.text);
        assert.ok((await deployedTypes(boat)).includes('inject'));
        const removed = await send(boat, { method: 'DELETE', path: `/flow/${added.json.id}`, headers: { Origin: local().origin } });
        assert.equal(removed.status, 204, removed.text);

        assert.equal(await upgradeComms(boat, { Host: local().host, Origin: local().origin }), 101);
        assert.equal(await upgradeComms(boat, { Host: local().host, Origin: EVIL }), 403);
        assert.equal(await upgradeComms(boat, { Host: 'evil.example', Origin: 'http://evil.example' }), 403);
    });

    it('says so at every start and on /health: degraded, "the Node-RED editor has no password"', async () => {
        assert.match(boat.log(), /The Node-RED editor has no password \(adminAuth is not set in settings.js\)/);
        const health = await send(boat, { path: '/health' });
        assert.equal(health.json.status, 'degraded');
        assert.ok(
            health.json.problems.some((p: string) => p.startsWith('the Node-RED editor has no password')),
            JSON.stringify(health.json.problems),
        );
    });
});

describe('hostile network: with adminAuth set, Node-RED decides', function () {
    this.timeout(180000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: EditorBoat;

    before(async () => {
        scratch = scratchFolder('editor-auth');
        const adminAuth = { type: 'credentials', users: [{ username: 'skipper', password: bcrypt.hashSync('harbour-light', 8), permissions: '*' }] };
        boat = await startEditorBoat(scratch.dir, { host: '0.0.0.0', adminAuth });
    });
    after(async () => {
        await boat?.stop();
        scratch?.remove();
    });

    it('without a token Node-RED refuses; with one, a foreign-Host read and a form deploy are what Node-RED allows', async () => {
        const marker = path.join(scratch.dir, 'deployed.txt');
        assert.equal((await send(boat, { path: '/flows', host: 'evil.example' })).status, 401);
        assert.equal((await crossSiteForm(boat, marker)).status, 401);

        const login = await send(boat, {
            method: 'POST',
            path: '/auth/token',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'skipper', password: 'harbour-light' }),
        });
        assert.equal(login.status, 200, login.text);
        const bearer = { Authorization: `Bearer ${login.json.access_token}` };
        assert.equal((await send(boat, { path: '/flows', host: 'evil.example', headers: bearer })).status, 200);
        const deployed = await crossSiteForm(boat, marker, bearer);
        assert.equal(deployed.status, 200, deployed.text);
        assert.ok((await deployedTypes(boat, bearer)).includes('exec'));
    });

    it('no warning at start and no editor problem on /health', async () => {
        assert.doesNotMatch(boat.log(), /editor has no password/);
        const health = await send(boat, { path: '/health' });
        assert.ok(!(health.json.problems ?? []).some((p: string) => /editor has no password/.test(p)), JSON.stringify(health.json));
    });
});

describe('hostile network: the editor rules follow httpAdminRoot', function () {
    this.timeout(180000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: EditorBoat;

    before(async () => {
        scratch = scratchFolder('editor-root');
        boat = await startEditorBoat(scratch.dir, { httpAdminRoot: '/admin' });
    });
    after(async () => {
        await boat?.stop();
        scratch?.remove();
    });

    it('with the editor at /admin/, its API and websocket there are held to the rules; the boat routes at / are as before', async () => {
        assert.equal((await send(boat, { path: '/admin/flows', host: 'evil.example' })).status, 403);
        assert.equal((await send(boat, { path: '/admin/flows' })).status, 200);
        assert.equal((await crossSiteForm(boat, path.join(scratch.dir, 'x'))).status, 404);
        const form = await send(boat, { method: 'POST', path: '/admin/flow', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: execFlowForm(path.join(scratch.dir, 'x')) });
        assert.equal(form.status, 403, form.text);
        assert.equal(await upgradeComms(boat, { Host: `127.0.0.1:${boat.port}`, Origin: EVIL }, '/admin/comms'), 403);
        assert.equal(await upgradeComms(boat, { Host: `127.0.0.1:${boat.port}`, Origin: `http://127.0.0.1:${boat.port}` }, '/admin/comms'), 101);
        assert.equal((await send(boat, { path: '/tier/status' })).status, 200);
    });
});
