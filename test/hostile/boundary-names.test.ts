import assert from 'node:assert/strict';
import * as os from 'os';
import * as path from 'path';
import { DemoBoat } from '../../tools/demo-boat';
import { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { filesUnder, isRunning, send, startHostileBoat } from './boat-on-the-network';

// DNS rebinding and Express's own error pages, against flows/boat.json on a started Node-RED: a page whose name
// resolves to the boat still sends its own name, and is refused before anything runs; every error is JSON.

const STATE_CHANGING: Array<[string, string]> = [
    ['/export/generate', '{"mode":"full"}'],
    ['/export/process-queue', ''],
    ['/export/queue/process', ''],
    ['/export/queue/retry-failed', ''],
    ['/export/queue/cleanup', ''],
    ['/api/media/cleanup', '{}'],
    ['/api/backup/create', ''],
    ['/api/backup/restore', '{"name":"NAME"}'],
    ['/api/backup/schedule', '{"schedule":"daily"}'],
];
const READS = [
    '/export/boatlog/csv',
    '/api/backup/download/NAME',
    '/api/backup/list',
    '/export/list',
    '/export/status',
    '/export/queue/status',
    '/export/history',
    '/tier/status',
    '/api/media/status',
    '/health',
];

describe('hostile network: the boat answers only to its own names', function () {
    this.timeout(180000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;
    let backup: string;
    const evil = () => ({ host: `evil.example:${nodeRed.port}`, headers: { Origin: `http://evil.example:${nodeRed.port}`, 'Content-Type': 'application/json' } });
    const boatData = () => filesUnder(boat.root, boat.mediaDir, boat.backupDir);

    before(async () => {
        scratch = scratchFolder('hostile-names');
        ({ boat, nodeRed } = await startHostileBoat(scratch.dir, { D3KOS_ALLOWED_HOSTS: 'd3kos.local, helm' }));
        const made = await send(nodeRed, { method: 'POST', path: '/api/backup/create' });
        assert.equal(made.status, 200, made.text);
        backup = made.json.backup.name;
    });
    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('a rebinding page (Host and Origin evil.example) is refused 403 on every state-changing route, and nothing changes', async () => {
        const before = boatData();
        for (const [route, body] of STATE_CHANGING) {
            const answer = await send(nodeRed, { method: 'POST', path: route, body: body.replace('NAME', backup), ...evil() });
            assert.equal(answer.status, 403, `${route}: ${answer.status} ${answer.text}`);
            assert.equal(answer.json.success, false);
            assert.match(answer.json.error, /"evil\.example" as the boat, which is not one of the boat's names/);
        }
        assert.deepEqual(boatData(), before);
    });

    it('a rebinding page cannot download a backup, the boatlog CSV or read any boat route', async () => {
        for (const route of READS) {
            const answer = await send(nodeRed, { path: route.replace('NAME', backup), ...evil() });
            assert.equal(answer.status, 403, `${route}: ${answer.status}`);
            assert.equal(answer.json.success, false, route);
            assert.doesNotMatch(answer.text, /boatlog|d3kos_backup_/i);
        }
        // Without Origin too: the name alone decides (a script, an <img>, a rebinding fetch in no-cors mode).
        assert.equal((await send(nodeRed, { path: `/api/backup/download/${backup}`, host: 'evil.example' })).status, 403);
    });

    it("the boat's own names keep working: loopback, localhost, [::1], its hostname, hostname.local, an interface address, D3KOS_ALLOWED_HOSTS", async () => {
        const names = [`127.0.0.1:${nodeRed.port}`, `localhost:${nodeRed.port}`, `[::1]:${nodeRed.port}`, os.hostname(), `${os.hostname()}.local`, 'd3kos.local', 'HELM:80'];
        const address = Object.values(os.networkInterfaces())
            .flat()
            .find((a) => a && a.family === 'IPv4' && !a.internal);
        if (address) names.push(`${address.address}:1880`);
        for (const host of names) {
            const download = await send(nodeRed, { path: `/api/backup/download/${backup}`, host });
            assert.equal(download.status, 200, `${host}: ${download.status} ${download.text.slice(0, 200)}`);
            assert.match(String(download.headers['content-type']), /gzip|octet-stream/);
            const page = await send(nodeRed, { method: 'POST', path: '/export/queue/cleanup', host, headers: { Origin: `http://${host}`, 'Content-Type': 'application/json' }, body: '{}' });
            assert.equal(page.status, 200, `${host}: ${page.text}`);
        }
        const csv = await send(nodeRed, { path: '/export/boatlog/csv' });
        assert.equal(csv.status, 200);
        assert.match(String(csv.headers['content-type']), /text\/csv/);
    });

    it("a name close to the boat's is not the boat: suffixes, prefixes, no Host at all", async () => {
        for (const host of [`${os.hostname()}.evil.example`, `evil-${os.hostname()}`, 'localhost.evil.example', '127.0.0.1.nip.io', 'd3kos.local.evil', '']) {
            const answer = await send(nodeRed, { method: 'POST', path: '/api/backup/create', host });
            assert.equal(answer.status, 403, `${host}: ${answer.text}`);
        }
    });

    it('GET /api/backup/download/%zz answers a JSON 400, without a stack trace or a path', async () => {
        for (const route of ['/api/backup/download/%zz', '/api/backup/download/%E0%A4%A', '/api/backup/download/d3kos%']) {
            const answer = await send(nodeRed, { path: route });
            assert.equal(answer.status, 400, `${route}: ${answer.text}`);
            assert.match(String(answer.headers['content-type']), /application\/json/);
            assert.equal(answer.json.success, false);
            assert.doesNotMatch(answer.text, /at \w+ \(|node_modules|\/tmp\/|\/home\//);
        }
    });

    it('a method a boat route does not serve is a JSON 405 naming the one it does; nothing is answered as HTML', async () => {
        for (const [method, route] of [
            ['PUT', '/export/generate'],
            ['DELETE', '/api/backup/create'],
            ['PATCH', '/api/media/status'],
            ['OPTIONS', '/api/backup/restore'],
            ['POST', '/health'],
        ]) {
            const answer = await send(nodeRed, { method, path: route, headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
            assert.equal(answer.status, 405, `${method} ${route}: ${answer.status} ${answer.text}`);
            assert.equal(answer.json.success, false);
            assert.ok(answer.headers.allow, `${method} ${route} names the methods it takes`);
            assert.equal(answer.headers['access-control-allow-origin'], undefined);
        }
        assert.ok(isRunning(nodeRed.pid));
    });

    it('the guard leaves other routes alone: the editor and the dashboard still answer', async () => {
        assert.equal((await send(nodeRed, { path: '/settings', headers: { Accept: 'application/json' } })).status, 200);
        assert.equal((await send(nodeRed, { path: '/dashboard/data' })).status, 200);
        assert.equal(path.basename(backup).startsWith('d3kos_backup_'), true);
    });
});
