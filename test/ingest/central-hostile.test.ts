import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as zlib from 'zlib';
import { RunningNodeRed } from '../../tools/node-red-runtime';
import { call, startCentral } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { forEachStore } from './stores';
import { exportWithHugeString, gzipOf, smallExport } from './uploads';

// flows/central-ingest.json on a real Node-RED 4.1 (npm run build first), attacked over HTTP, on each store.

const BOAT = 'b0a7b0a7b0a7b0a7';

function rssMegabytes(pid: number): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
}

/** Samples a process's RSS every 20 ms while `work` runs: the peak. */
async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
    let peak = rssMegabytes(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMegabytes(pid))), 20);
    try {
        const result = await work();
        return { result, peak: Math.max(peak, rssMegabytes(pid)) };
    } finally {
        clearInterval(sampler);
    }
}

/** RSS once the process has had a moment to give back what it freed (Node-RED's own timers still run). */
async function settledRss(pid: number): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return rssMegabytes(pid);
}

forEachStore('central ingest on Node-RED: hostile uploads', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let central: RunningNodeRed;

    const post = (body: Buffer, headers: Record<string, string> = {}) =>
        fetch(`${central.url}/api/v1/data/import`, {
            method: 'POST',
            headers: { authorization: `Bearer ${BOAT}`, 'content-encoding': 'gzip', origin: 'http://evil.example', ...headers },
            body: new Uint8Array(body),
        });

    before(async () => {
        scratch = scratchFolder('central-hostile');
        central = await startCentral(scratch.dir, { D3KOS_INGEST_DATABASE_URL: await kind.freshDatabase() });
        const first = await post(zlib.gzipSync(smallExport(BOAT, 'export_first', 20)));
        assert.equal(first.status, 200, await first.text());
    });
    after(async () => {
        await central?.stop();
        scratch.remove();
    });

    it('three uploads each holding a 200 MB boatlog string are refused with 413, Node-RED stays up and small, and reads go on', async () => {
        const huge = await gzipOf(exportWithHugeString(BOAT, 'export_huge', 200));
        const before = rssMegabytes(central.pid);
        const { result: answers, peak } = await peakRss(central.pid, async () => {
            const answers = [];
            for (let i = 0; i < 3; i++) {
                const res = await post(huge);
                answers.push({ status: res.status, body: await res.json() });
            }
            return answers;
        });
        for (const answer of answers) {
            assert.equal(answer.status, 413, JSON.stringify(answer.body));
            assert.match(answer.body.error, /the boatlog entry at data\.boatlog\.entries\[0\] holds a string of more than 512 kB/);
        }
        assert.ok(peak - before < 150, `Node-RED grew from ${before.toFixed(0)} MB to ${peak.toFixed(0)} MB`);
        const read = await call(central, 'GET', `/api/v1/installations/${BOAT}/boatlog`);
        assert.equal(read.status, 200, read.text);
        assert.equal(read.json.entries.length, 20);
        assert.equal(central.pid > 0 && fs.existsSync(`/proc/${central.pid}`), true, 'Node-RED is still running');
    });

    it('eight 10 MB gzip bombs (10 GB of zeros each) at once, three times over, are refused, and memory comes back (within 100 MB; inflated, one bomb is 10 GB)', async () => {
        // One gzip member of 512 MB of zeros, twenty times over: a 10 MB upload that inflates to 10 GB.
        const member = await gzipOf(
            (function* () {
                for (let i = 0; i < 512; i++) yield Buffer.alloc(1024 * 1024);
            })(),
            9,
        );
        const bomb = Buffer.concat(Array.from({ length: Math.ceil((10 * 1024 * 1024) / member.length) }, () => member));
        const eightAtOnce = () =>
            Promise.all(
                Array.from({ length: 8 }, async () => {
                    const res = await post(bomb);
                    await res.text();
                    return res.status;
                }),
            );
        // A first round warms the route up, its buffers and the allocator's arenas; each round after must cost nothing lasting.
        await eightAtOnce();
        const before = await settledRss(central.pid);
        const { result: statuses, peak } = await peakRss(central.pid, async () => {
            const rounds = [];
            for (let round = 0; round < 3; round++) rounds.push(...(await eightAtOnce()));
            return rounds;
        });
        // Refused as not JSON (400), or told to come back (429) past the uploads the spool takes at once.
        assert.ok(
            statuses.every((status) => status === 400 || status === 429),
            statuses.join(),
        );
        assert.ok(statuses.filter((status) => status === 400).length >= 3, statuses.join());
        const after = await settledRss(central.pid);
        assert.ok(peak - before < 400, `the peak was ${peak.toFixed(0)} MB from ${before.toFixed(0)} MB`);
        assert.ok(after - before < 100, `Node-RED went from ${before.toFixed(0)} MB to ${after.toFixed(0)} MB after the bombs (peak ${peak.toFixed(0)} MB)`);
    });

    it('an export with duplicate keys is answered 400 over HTTP', async () => {
        const text = smallExport(BOAT, 'export_dup').replace('{"export_id"', '{"installation_id":"ffffffffffffffff","export_id"');
        const res = await post(zlib.gzipSync(text));
        assert.equal(res.status, 400);
        assert.match((await res.json()).error, /has the key "installation_id" twice/);
    });

    it('no ingest answer gives another origin leave to read it (no Access-Control-Allow-Origin), GET or POST, success or error', async () => {
        const answers = [await post(zlib.gzipSync(smallExport(BOAT, 'export_cors'))), await post(Buffer.from('not gzip'))];
        for (const route of [
            '/api/v1/health',
            '/api/v1/installations',
            `/api/v1/installations/${BOAT}/boatlog`,
            '/api/v1/exports/export_cors',
            '/api/v1/installations/nothex/boatlog',
            '/api/v1/fleet/health',
        ]) {
            answers.push(await fetch(`${central.url}${route}`, { headers: { origin: 'http://evil.example' } }));
        }
        assert.deepEqual(
            answers.map((res) => res.status),
            [200, 400, 200, 200, 200, 200, 400, 200],
        );
        for (const res of answers) {
            assert.equal(res.headers.get('access-control-allow-origin'), null, `${res.url} ${res.status} allows ${res.headers.get('access-control-allow-origin')}`);
        }
    });
});
