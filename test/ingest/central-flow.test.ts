import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { call, demoBoat, FAST_QUEUE_ENV, loadFlow, startCentral } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { boatHeaders, demoBoatIn, exportUpload } from './uploads';

// flows/central-ingest.json on a real Node-RED 4.1 with the built package (npm run build first).

/** Resident memory of a process, in MB, from /proc. */
function rssMegabytes(pid: number): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
}

interface StreamedPost {
    status: number;
    text: string;
    /** Body bytes the client handed to its socket before it stopped. */
    sent: number;
}

/** POSTs `total` bytes streamed from a generator (one 64 kB buffer sent again and again), stopping when the server hangs up. */
function streamedPost(url: string, headers: Record<string, string>, total: number): Promise<StreamedPost> {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    function* body() {
        while (sent < total) {
            const n = Math.min(chunk.length, total - sent);
            sent += n;
            yield n === chunk.length ? chunk : chunk.subarray(0, n);
        }
    }
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(total) } });
        const answered = new Promise<Omit<StreamedPost, 'sent'>>((done) => {
            req.on('response', (res) => {
                let text = '';
                res.setEncoding('utf8');
                res.on('data', (data) => (text += data));
                res.on('end', () => done({ status: res.statusCode ?? 0, text }));
                res.on('error', () => done({ status: res.statusCode ?? 0, text }));
            });
        });
        // The server closing its side mid-body ends the sending early: that is the point.
        const sending = pipeline(Readable.from(body()), req).catch(() => undefined);
        const lost = sending.then(
            () =>
                new Promise<never>((_, fail) => {
                    const timer = setTimeout(() => fail(new Error(`no answer came; the client sent ${sent} bytes`)), 10000);
                    answered.then(() => clearTimeout(timer));
                }),
        );
        Promise.all([Promise.race([answered, lost]), sending]).then(([answer]) => resolve({ ...answer, sent }), reject);
    });
}

describe('flows/central-ingest.json on a started Node-RED', function () {
    this.timeout(90000);
    let scratch: ReturnType<typeof scratchFolder>;
    const running: RunningNodeRed[] = [];

    before(() => (scratch = scratchFolder('central-flow')));
    after(async () => {
        for (const nodeRed of running) await nodeRed.stop();
        scratch.remove();
    });

    it('open mode: a boat upload is stored, readable, and the same upload again is success with already_imported', async () => {
        const central = await startCentral(path.join(scratch.dir, 'open'));
        running.push(central);
        const boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 25, telemetryRows: 10 });
        const upload = await exportUpload(boat);
        const post = () => fetch(`${central.url}/api/v1/data/import`, { method: 'POST', headers: boatHeaders(upload, boat.installationId), body: new Uint8Array(upload.gzip) });

        const first = await post();
        const answer = await first.json();
        assert.equal(first.status, 200, JSON.stringify(answer));
        assert.equal(answer.status, 'success');
        const again = await (await post()).json();
        assert.deepEqual([again.already_imported, again.import_id], [true, answer.import_id]);

        const rows = await call(central, 'GET', `/api/v1/installations/${boat.installationId}/boatlog`);
        assert.equal(rows.json.entries.length, upload.json.data.boatlog.entry_count);
        const health = await call(central, 'GET', '/api/v1/health');
        assert.deepEqual([health.status, health.json.status, health.json.mode], [200, 'ok', 'open']);
        assert.ok(fs.existsSync(path.join(scratch.dir, 'open', 'central-data', 'ingest.db')), 'the database is in D3KOS_INGEST_DIR');

        const refused = await fetch(`${central.url}/api/v1/data/import`, { method: 'POST', headers: boatHeaders(upload, 'ffffffffffffffff'), body: new Uint8Array(upload.gzip) });
        assert.equal(refused.status, 401);
        assert.match(refused.headers.get('content-type') ?? '', /application\/json/);
        assert.equal((await refused.json()).status, 'error');
    });

    it('tokens mode: only a device listed in devices.json is let in', async () => {
        const dir = path.join(scratch.dir, 'tokens');
        fs.mkdirSync(path.join(dir, 'central-data'), { recursive: true });
        const boat = await demoBoatIn(scratch.dir, 'token-boat', { boatlogRows: 10, telemetryRows: 5 });
        fs.writeFileSync(path.join(dir, 'central-data', 'devices.json'), JSON.stringify({ 'k3-device-token': boat.installationId }));
        const central = await startCentral(dir, { D3KOS_INGEST_MODE: 'tokens' });
        running.push(central);
        const upload = await exportUpload(boat);
        const send = (bearer: string) => fetch(`${central.url}/api/v1/data/import`, { method: 'POST', headers: boatHeaders(upload, bearer), body: new Uint8Array(upload.gzip) });
        assert.equal((await send(boat.installationId)).status, 401);
        const accepted = await send('k3-device-token');
        assert.equal(accepted.status, 200);
        assert.equal((await accepted.json()).status, 'success');
        assert.doesNotMatch(central.log(), /k3-device-token/, 'the token never reaches the log');

        // Reading needs a token too; the health check stays open but says nothing of the fleet.
        const anonymous = await call(central, 'GET', '/api/v1/installations');
        assert.equal(anonymous.status, 401, anonymous.text);
        const own = await fetch(`${central.url}/api/v1/installations/${boat.installationId}/boatlog`, { headers: { authorization: 'Bearer k3-device-token' } });
        assert.equal(own.status, 200);
        const health = await call(central, 'GET', '/api/v1/health');
        assert.deepEqual(health.json, { status: 'ok', mode: 'tokens', accept_encoding: ['br', 'gzip'] });
    });

    it('a 200 MB upload with a wrong token is answered 401 without Node-RED holding it in memory or the client sending it all', async () => {
        const dir = path.join(scratch.dir, 'big-refusal');
        fs.mkdirSync(path.join(dir, 'central-data'), { recursive: true });
        fs.writeFileSync(path.join(dir, 'central-data', 'devices.json'), JSON.stringify({ 'k3-device-token': '0123456789abcdef' }));
        const central = await startCentral(dir, { D3KOS_INGEST_MODE: 'tokens' });
        running.push(central);
        const headers = { authorization: 'Bearer not-a-device-token', 'content-encoding': 'gzip', 'idempotency-key': 'export_big' };
        // Warm up the route's code, so the baseline is a server that has answered a refusal before.
        await streamedPost(`${central.url}/api/v1/data/import`, headers, 1024);
        const before = rssMegabytes(central.pid);
        let peak = before;
        const sampler = setInterval(() => (peak = Math.max(peak, rssMegabytes(central.pid))), 20);
        let post: StreamedPost;
        try {
            post = await streamedPost(`${central.url}/api/v1/data/import`, headers, 200 * 1024 * 1024);
        } finally {
            clearInterval(sampler);
        }
        peak = Math.max(peak, rssMegabytes(central.pid));
        assert.equal(post.status, 401, post.text);
        assert.match(JSON.parse(post.text).error, /device token is not known/);
        assert.ok(peak - before < 100, `Node-RED grew from ${before.toFixed(0)} MB to ${peak.toFixed(0)} MB`);
        assert.ok(post.sent < 64 * 1024 * 1024, `the client sent ${post.sent} of 200 MB`);
        // The ingest goes on answering.
        const health = await call(central, 'GET', '/api/v1/health');
        assert.equal(health.status, 200);
    });

    it('a devices.json in KEY=VALUE form is answered 500 naming where it breaks, and no part of the token reaches the answer or the log', async () => {
        const dir = path.join(scratch.dir, 'key-value');
        const token = 'q7w8e9r0t1y2u3i4o5p6';
        fs.mkdirSync(path.join(dir, 'central-data'), { recursive: true });
        fs.writeFileSync(path.join(dir, 'central-data', 'devices.json'), `DEVICE_TOKEN=${token}\n`);
        const boat = await demoBoatIn(scratch.dir, 'key-value-boat', { boatlogRows: 5, telemetryRows: 5 });
        const central = await startCentral(dir, { D3KOS_INGEST_MODE: 'tokens' });
        running.push(central);
        const upload = await exportUpload(boat);
        const res = await fetch(`${central.url}/api/v1/data/import`, { method: 'POST', headers: boatHeaders(upload, token), body: new Uint8Array(upload.gzip) });
        const text = await res.text();
        assert.equal(res.status, 500, text);
        assert.match(JSON.parse(text).error, /devices\.json is not valid JSON at line 1, column 1/);
        await new Promise((resolve) => setTimeout(resolve, 200));
        for (const [where, seen] of [
            ['answer', text],
            ['log', central.log()],
        ]) {
            for (let at = 0; at + 5 <= token.length; at++) {
                assert.ok(!seen.includes(token.slice(at, at + 5)), `"${token.slice(at, at + 5)}" of the token is in the ${where}`);
            }
        }
        assert.match(central.log(), /devices\.json is not valid JSON at line 1/, 'the operator sees the problem in the log');
    });

    it('deploys together with flows/boat.json in one Node-RED (npm start): no id clash, both answer', async () => {
        const dir = path.join(scratch.dir, 'together');
        const boat = await demoBoat(dir, { boatlogRows: 10, telemetryRows: 5 });
        const flows = [...loadFlow('boat'), ...loadFlow('central-ingest')];
        const ids = flows.map((n) => n.id);
        assert.equal(new Set(ids).size, ids.length, 'node ids are unique across the two flows');
        const nodeRed = await startNodeRed({
            userDir: path.join(dir, 'node-red'),
            flows,
            env: {
                D3KOS_ROOT: boat.root,
                D3KOS_MEDIA_DIR: boat.mediaDir,
                D3KOS_BACKUP_DIR: boat.backupDir,
                D3KOS_CENTRAL_URL: 'http://127.0.0.1:9',
                D3KOS_INGEST_MODE: 'open',
                D3KOS_INGEST_DIR: path.join(dir, 'central-data'),
                ...FAST_QUEUE_ENV,
            },
            quiet: true,
        });
        running.push(nodeRed);
        const health = await call(nodeRed, 'GET', '/api/v1/health');
        assert.equal(health.json.status, 'ok');
        const boatHealth = await call(nodeRed, 'GET', '/health');
        assert.equal(boatHealth.status, 200, boatHealth.text);
    });
});
