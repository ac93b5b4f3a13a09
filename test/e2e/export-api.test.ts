import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import type { DemoBoat } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { CATEGORY_KEYS } from '../../lib/categories';
import { scratchFolder } from '../support/folders';
import { call, demoBoat, exportFiles, readQueueFile, startBoat, startCentral, waitFor } from './harness';
import { readExport, exportFileOf } from '../support/exports';

// The boat flow on a real Node-RED, driven the way the d3kOS Data Management page and the boot and
// daily scripts drive it: over HTTP only. The seeds' acceptance tests, automated.

describe('the boat flow over HTTP (tier 2 boat, central ingest reachable)', function () {
    this.timeout(120000);
    let scratch: { dir: string; remove: () => void };
    let boat: DemoBoat;
    let central: RunningNodeRed;
    let nodeRed: RunningNodeRed;

    before(async () => {
        scratch = scratchFolder('e2e');
        boat = await demoBoat(scratch.dir, { tier: 2 });
        central = await startCentral(scratch.dir);
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: central.url });
    });

    after(async () => {
        await nodeRed?.stop();
        await central?.stop();
        scratch?.remove();
    });

    describe('the endpoints the Data Management page calls all exist and answer JSON', () => {
        for (const [method, url] of [
            ['GET', '/tier/status'],
            ['GET', '/export/status'],
            ['GET', '/export/queue/status'],
            ['GET', '/export/history'],
            ['GET', '/export/list'],
            ['GET', '/health'],
            ['POST', '/export/process-queue'],
            ['POST', '/export/queue/process'],
            ['POST', '/export/queue/cleanup'],
            ['POST', '/export/queue/retry-failed'],
        ]) {
            it(`${method} ${url}`, async () => {
                const answer = await call(nodeRed, method, url);
                assert.equal(answer.status, 200, answer.text);
                assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
                assert.equal(answer.json.success, true, answer.text);
            });
        }
    });

    it('GET /tier/status answers the tier the page checks for', async () => {
        const answer = await call(nodeRed, 'GET', '/tier/status');
        assert.equal(answer.json.tier, 2);
        assert.equal(answer.json.installation_id, boat.installationId);
        assert.equal(answer.json.can_export, true);
    });

    it('GET /health answers ok', async () => {
        const answer = await call(nodeRed, 'GET', '/health');
        assert.equal(answer.json.status, 'ok');
    });

    describe('seed 000 Test 1 / seed 001 Test 6: a manual export', () => {
        let answer: Awaited<ReturnType<typeof call>>;
        before(async () => {
            answer = await call(nodeRed, 'POST', '/export/generate');
        });

        it('curl -X POST /export/generate answers with the SPEC §8 fields', () => {
            assert.equal(answer.status, 200, answer.text);
            const body = answer.json;
            assert.equal(body.success, true);
            assert.match(body.export_id, /^export_\d{8}_\d{6}_\d{3}_[0-9a-f]{4}$/);
            assert.match(body.queue_id, /\S/);
            // Stored as its upload sends it: brotli, the urgent part under the export's name.
            assert.match(body.export_file, new RegExp(`${body.export_id}\\.json\\.br$`));
            assert.equal(body.category_count, 9);
            assert.equal(body.statistics.total_categories, 9);
            assert.ok(body.statistics.categories_with_data >= 1 && body.statistics.categories_with_data <= 9);
            assert.ok(body.statistics.total_size_bytes > 0);
        });

        it('the export file is in data/exports/exports with the installation id, tier and all nine categories', () => {
            const exported = readExport(path.join(boat.layout.exportFilesDir, `${answer.json.export_id}.json.br`)).json;
            assert.equal(exported.installation_id, boat.installationId);
            assert.equal(exported.tier, 2);
            assert.equal(exported.mode, 'full');
            assert.deepEqual(Object.keys(exported.data).sort(), [...CATEGORY_KEYS].sort());
        });

        it('GET /export/list lists it with its size', async () => {
            const list = await call(nodeRed, 'GET', '/export/list');
            const entry = list.json.exports.find((e: any) => e.filename === `${answer.json.export_id}.json.br`);
            assert.ok(
                list.json.exports.some((e: any) => e.filename === `${answer.json.export_id}-bulk.json.br`),
                'its bulk part is listed too',
            );
            assert.ok(entry, list.text);
            assert.equal(entry.size, fs.statSync(path.join(boat.layout.exportFilesDir, entry.filename)).size);
            assert.equal(list.json.count, list.json.exports.length);
        });

        it('the export reaches the central database and its boatlog rows can be read there', async () => {
            const rows = await waitFor('the boatlog at the central side', async () => {
                const read = await call(central, 'GET', `/api/v1/installations/${boat.installationId}/boatlog`);
                const entries = read.json?.entries ?? read.json?.rows ?? read.json?.boatlog;
                return read.status === 200 && Array.isArray(entries) && entries.length > 0 ? entries : undefined;
            });
            const exported = readExport(exportFileOf(boat.layout.exportFilesDir, answer.json.export_id)).json;
            assert.equal(rows.length, exported.data.boatlog.entry_count);
        });
    });

    it('a JSON body {"mode":"incremental"} makes an incremental export', async () => {
        const answer = await call(nodeRed, 'POST', '/export/generate', { headers: { 'Content-Type': 'application/json' }, body: '{"mode":"incremental"}' });
        assert.equal(answer.status, 200, answer.text);
        const exported = readExport(exportFileOf(boat.layout.exportFilesDir, answer.json.export_id)).json;
        assert.equal(exported.mode, 'incremental');
    });

    it('an unknown mode is a 400 naming it', async () => {
        const answer = await call(nodeRed, 'POST', '/export/generate', { headers: { 'Content-Type': 'application/json' }, body: '{"mode":"everything"}' });
        assert.equal(answer.status, 400, answer.text);
        assert.equal(answer.json.success, false);
        assert.match(answer.json.error, /"everything"/);
    });

    it('a malformed JSON body is a JSON 400, not an HTML page', async () => {
        const answer = await call(nodeRed, 'POST', '/export/generate', { headers: { 'Content-Type': 'application/json' }, body: '{"mode":' });
        assert.equal(answer.status, 400);
        assert.equal(answer.json.success, false);
        assert.match(answer.json.error, /not valid JSON/);
    });

    it('GET on an endpoint that changes data is a JSON 405 saying to use POST', async () => {
        const answer = await call(nodeRed, 'GET', '/export/generate');
        assert.equal(answer.status, 405);
        assert.equal(answer.headers.get('allow'), 'POST');
        assert.match(answer.json.error, /use POST/);
    });

    describe('seed 000 Test 2 / seed 001 Tests 1 and 2: the queue', () => {
        it("GET /export/queue/status has both the page's and the scripts' fields", async () => {
            const status = await call(nodeRed, 'GET', '/export/queue/status');
            const body = status.json;
            for (const field of ['pending', 'failed', 'pending_count', 'uploading_count', 'completed_count', 'failed_count']) {
                assert.equal(typeof body[field], 'number', `${field} in ${status.text}`);
            }
            assert.ok('next_pending' in body, status.text);
            assert.ok(Array.isArray(body.items?.pending), status.text);
        });

        it('the queue file keeps the deployed format', () => {
            const queue = readQueueFile(boat);
            for (const list of ['pending', 'uploading', 'completed', 'failed']) assert.ok(Array.isArray(queue[list]), `${list} in export_queue.json`);
        });

        it('the worker uploads the exports without being asked: pending_count reaches 0, completed_count grows', async () => {
            const done = await waitFor('the queue to drain', async () => {
                const body = (await call(nodeRed, 'GET', '/export/queue/status')).json;
                return body.pending_count === 0 && body.uploading_count === 0 && body.completed_count >= 2 ? body : undefined;
            });
            assert.equal(done.failed_count, 0);
        });

        it('POST /export/process-queue and its alias answer success', async () => {
            for (const url of ['/export/process-queue', '/export/queue/process']) {
                const answer = await call(nodeRed, 'POST', url);
                assert.equal(answer.status, 200, answer.text);
                assert.equal(answer.json.success, true);
            }
        });

        it('GET /export/history lists the uploaded exports', async () => {
            const history = await call(nodeRed, 'GET', '/export/history');
            assert.equal(history.json.success, true);
            assert.ok(history.json.count >= 2, history.text);
            assert.ok(Array.isArray(history.json.history));
            assert.ok(history.json.history.every((h: any) => typeof h.export_id === 'string'));
        });

        it('GET /export/status sums it up: can export, tier, queue counts', async () => {
            const answer = await call(nodeRed, 'GET', '/export/status');
            assert.equal(answer.json.can_export, true);
            assert.equal(answer.json.tier, 2);
            assert.equal(typeof answer.json.queue.pending_count, 'number');
            assert.equal(typeof answer.json.queue.completed_count, 'number');
        });
    });

    describe('cross-site requests', () => {
        it('a POST from a page on another site is refused with 403 and no export is made', async () => {
            const before = exportFiles(boat).length;
            const answer = await call(nodeRed, 'POST', '/export/generate', { headers: { Origin: 'http://evil.example' } });
            assert.equal(answer.status, 403);
            assert.equal(answer.json.success, false);
            assert.match(answer.json.error, /cross-site/);
            assert.equal(exportFiles(boat).length, before);
        });

        it('a foreign page naming itself in X-Forwarded-Host is still refused', async () => {
            const before = exportFiles(boat).length;
            const answer = await call(nodeRed, 'POST', '/export/generate', {
                headers: { Origin: 'http://evil.example', 'X-Forwarded-Host': 'evil.example', 'Content-Type': 'application/json' },
                body: '{"mode":"full"}',
            });
            assert.equal(answer.status, 403, answer.text);
            assert.equal(exportFiles(boat).length, before);
        });

        it('a form post (no Origin, form body) is refused with 403', async () => {
            for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
                const answer = await call(nodeRed, 'POST', '/export/process-queue', { headers: { 'Content-Type': type }, body: 'mode=full' });
                assert.equal(answer.status, 403, `${type}: ${answer.text}`);
            }
        });

        it("a same-origin page's POST works", async () => {
            const host = new URL(nodeRed.url).host;
            const answer = await call(nodeRed, 'POST', '/export/queue/cleanup', { headers: { Origin: `http://${host}`, 'Content-Type': 'application/json' }, body: '{}' });
            assert.equal(answer.status, 200, answer.text);
        });

        it('no answer of ours gives another site CORS permission to read it', async () => {
            for (const [method, url] of [
                ['GET', '/tier/status'],
                ['GET', '/export/history'],
                ['POST', '/export/generate'],
                ['POST', '/export/queue/cleanup'],
            ]) {
                const answer = await call(nodeRed, method, url, { headers: { Origin: 'http://evil.example' } });
                assert.equal(answer.headers.get('access-control-allow-origin'), null, `${method} ${url} allows another origin`);
            }
        });

        it('a preflight grants nothing: the JSON POST a foreign page sends after it is still refused', async () => {
            // Node-RED's admin app answers every preflight itself when it shares the root path with the http nodes.
            await call(nodeRed, 'OPTIONS', '/export/generate', {
                headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
            });
            const post = await call(nodeRed, 'POST', '/export/generate', { headers: { Origin: 'http://evil.example', 'Content-Type': 'application/json' }, body: '{"mode":"full"}' });
            assert.equal(post.status, 403);
            assert.equal(post.headers.get('access-control-allow-origin'), null);
        });

        it('JSONP is never answered, so no script tag elsewhere can read the tier', async () => {
            const answer = await call(nodeRed, 'GET', '/tier/status?callback=steal');
            assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
            assert.doesNotMatch(answer.text, /steal/);
        });
    });

    it("no secret planted on the boat appears in Node-RED's log", () => {
        const log = nodeRed.log();
        for (const secret of boat.secrets) assert.ok(!log.includes(secret), `a secret appeared in the log`);
    });
});
