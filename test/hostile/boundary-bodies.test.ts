import assert from 'node:assert/strict';
import * as fs from 'fs';
import { DemoBoat } from '../../tools/demo-boat';
import { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { exportFiles } from '../e2e/harness';
import { isRunning, memoryOf, resetPeak, send, startHostileBoat, streamBody } from './boat-on-the-network';

// What anyone on the boat's Wi-Fi can send as a body, against flows/boat.json on a started Node-RED: nothing
// they send grows it, stalls it or crashes it, and no loose body does what a precise one would.

const BODY_ROUTES = [
    '/export/generate',
    '/export/process-queue',
    '/export/queue/process',
    '/export/queue/retry-failed',
    '/export/queue/cleanup',
    '/api/media/cleanup',
    '/api/backup/create',
    '/api/backup/restore',
    '/api/backup/schedule',
];
const MB = 1024 * 1024;
const json = { 'Content-Type': 'application/json' };

describe('hostile network: bodies sent to the boat routes', function () {
    this.timeout(240000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;

    const health = async () => (await send(nodeRed, { path: '/health' })).status;
    const mediaFiles = () =>
        fs
            .readdirSync(boat.mediaDir, { recursive: true })
            .map(String)
            .filter((f) => /\.(jpg|mp4)$/.test(f))
            .sort();

    before(async () => {
        scratch = scratchFolder('hostile-bodies');
        ({ boat, nodeRed } = await startHostileBoat(scratch.dir));
        // Warm up every route once so the memory figures compare like with like.
        for (const route of BODY_ROUTES) await send(nodeRed, { method: 'POST', path: route, headers: json, body: '{"unknown":1}' });
        await send(nodeRed, { method: 'POST', path: '/export/generate', headers: json, body: '[[[[[[[[[[1]]]]]]]]]]' });
    });
    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('a Content-Length of 1.5 GB is refused with a 413 JSON answer before the body is read', async () => {
        for (const route of ['/export/generate', '/api/backup/restore', '/api/media/cleanup']) {
            const before = memoryOf(nodeRed.pid);
            resetPeak(nodeRed.pid);
            const outcome = await streamBody(nodeRed, route, { totalBytes: 8 * MB, announce: 1536 * MB, headersFirstMs: 2000 });
            assert.equal(outcome.status, 413, `${route}: ${JSON.stringify(outcome)}`);
            assert.equal(outcome.written, 0, 'answered before a byte of the body was sent');
            assert.equal(JSON.parse(outcome.text!).success, false);
            assert.match(JSON.parse(outcome.text!).error, /larger than 64 KB/);
            const growth = memoryOf(nodeRed.pid).peak - before.rss;
            assert.ok(growth < 100 * MB, `${route}: peak RSS grew by ${(growth / MB).toFixed(1)} MB`);
        }
        assert.equal(await health(), 200);
    });

    it('a 2 GB chunked body is cut at 64 KB and the connection closed: Node-RED stays up and grows < 100 MB', async () => {
        const before = memoryOf(nodeRed.pid);
        resetPeak(nodeRed.pid);
        const outcomes = await Promise.all(['/export/generate', '/api/backup/restore', '/export/process-queue'].map((route) => streamBody(nodeRed, route, { totalBytes: 2048 * MB, chunked: true })));
        const after = memoryOf(nodeRed.pid);
        for (const outcome of outcomes) {
            // Cut: the boat stopped taking the body long before 2 GB, answering 413 or closing the connection.
            assert.ok(outcome.written < 256 * MB, `the boat took ${outcome.written / MB} MB of a 2 GB body`);
            assert.ok(outcome.status === 413 || outcome.error, JSON.stringify(outcome));
        }
        assert.ok(isRunning(nodeRed.pid));
        console.log(
            `      three 2 GB bodies: ${outcomes.map((o) => `${(o.written / MB).toFixed(1)} MB sent, ${o.status ?? o.error}`).join('; ')}; RSS ${(before.rss / MB).toFixed(1)} MB before, peak ${(after.peak / MB).toFixed(1)} MB during`,
        );
        assert.ok(after.peak - before.rss < 100 * MB, `peak RSS grew by ${((after.peak - before.rss) / MB).toFixed(1)} MB (from ${(before.rss / MB).toFixed(0)} MB)`);
        assert.equal(await health(), 200);
    });

    it('a body that trickles in is dropped after 5 s with a 408, and Node-RED answers meanwhile', async () => {
        const started = Date.now();
        const trickle = streamBody(nodeRed, '/api/media/cleanup', { totalBytes: 1000, announce: 1000, chunkBytes: 1, pauseMs: 250 });
        const chunkedTrickle = streamBody(nodeRed, '/export/generate', { totalBytes: 1000, chunked: true, chunkBytes: 1, pauseMs: 250 });
        assert.equal(await health(), 200);
        for (const outcome of [await trickle, await chunkedTrickle]) {
            assert.equal(outcome.status, 408, JSON.stringify(outcome));
            assert.match(JSON.parse(outcome.text!).error, /did not arrive within 5 s/);
        }
        // Sent whole, the trickle would take 250 s: it was dropped long before.
        assert.ok(Date.now() - started < 60000);
    });

    it('2,000 levels of [[[[ get a 400 JSON answer on every route, and Node-RED stays up', async () => {
        const deep = '['.repeat(2000) + ']'.repeat(2000);
        const deepObject = '{"a":'.repeat(2000) + '1' + '}'.repeat(2000);
        for (const route of BODY_ROUTES) {
            for (const body of [deep, deepObject]) {
                const answer = await send(nodeRed, { method: 'POST', path: route, headers: json, body });
                assert.equal(answer.status, 400, `${route}: ${answer.status} ${answer.text}`);
                assert.match(answer.json.error, /nests deeper than/);
            }
        }
        assert.ok(isRunning(nodeRed.pid));
        assert.equal(await health(), 200);
    });

    it('no loose body runs a media cleanup: each is a 400 naming the problem, and every recording stays', async () => {
        const before = mediaFiles();
        assert.ok(before.length > 0);
        const loose: Array<[string, RegExp]> = [
            ['{"dryRun":true}', /unknown field "dryRun"/],
            ['{"dry_run ":true}', /unknown field "dry_run "/],
            ['[{"dry_run":true}]', /one JSON object/],
            ['"dry_run"', /one JSON object/],
            ['{"dry_run":null}', /"dry_run" must be true or false; got null/],
            ['{"dry_run":"true"}', /"dry_run" must be true or false/],
            ['true', /one JSON object/],
            ['123', /one JSON object/],
            ['null', /one JSON object/],
            // JSON.parse keeps the last of a key named twice: this one would delete for real.
            ['{"dry_run":true,"dry_run":false}', /the request body names "dry_run" twice/],
            ['{"dry_run":true,"dry_run":false,"x":1}', /names "dry_run" twice|unknown field "x"/],
            ['{"max_age_days":0}', /"max_age_days" must be a whole number from 1 to 365/],
        ];
        for (const [body, problem] of loose) {
            const answer = await send(nodeRed, { method: 'POST', path: '/api/media/cleanup', headers: json, body });
            assert.equal(answer.status, 400, `${body}: ${answer.status} ${answer.text}`);
            assert.match(answer.json.error, problem, body);
            assert.deepEqual(mediaFiles(), before, `${body} deleted recordings`);
        }
        // The precise body is still obeyed: a dry run lists and keeps, so the refusals above were the shape's doing.
        const dry = await send(nodeRed, { method: 'POST', path: '/api/media/cleanup', headers: json, body: '{"dry_run":true}' });
        assert.equal(dry.status, 200, dry.text);
        assert.ok(dry.json.deleted_count > 0, 'the demo boat has recordings old enough to delete');
        assert.deepEqual(mediaFiles(), before);
    });

    it('no loose body runs an export: {"mode":null}, unknown fields and non-objects are 400s and no file is written', async () => {
        const before = exportFiles(boat);
        for (const body of ['{"mode":null}', '{"mode":"full","all":true}', '{"Mode":"full"}', '["full"]', '"full"', '{"mode":["full"]}', '{"mode":"FULL"}']) {
            const answer = await send(nodeRed, { method: 'POST', path: '/export/generate', headers: json, body });
            assert.equal(answer.status, 400, `${body}: ${answer.status} ${answer.text}`);
            assert.deepEqual(exportFiles(boat), before, `${body} wrote an export`);
        }
    });

    it('the backup and queue routes take exactly their fields', async () => {
        const refused: Array<[string, string, RegExp]> = [
            ['/api/backup/restore', '{}', /"name" is missing/],
            ['/api/backup/restore', '{"name":"../../etc/passwd"}', /"name" is not the name of a d3kOS backup/],
            ['/api/backup/restore', '{"name":"d3kos_backup_20260101_000000.tar.gz","keep_installation_id":"false"}', /must be true or false/],
            ['/api/backup/schedule', '{"schedule":"hourly"}', /must be "off", "daily" or "weekly"/],
            ['/api/backup/create', '{"keep":1}', /this route takes no fields/],
            ['/export/queue/cleanup', '{"all":true}', /this route takes no fields/],
        ];
        for (const [route, body, problem] of refused) {
            const answer = await send(nodeRed, { method: 'POST', path: route, headers: json, body });
            assert.equal(answer.status, 400, `${route} ${body}: ${answer.text}`);
            assert.match(answer.json.error, problem);
        }
        const missing = await send(nodeRed, { method: 'POST', path: '/api/backup/restore', headers: json, body: '{"name":"d3kos_backup_20260101_000000.tar.gz"}' });
        assert.equal(missing.status, 404, missing.text);
        assert.equal((await send(nodeRed, { method: 'POST', path: '/export/queue/cleanup' })).status, 200);
    });
});
