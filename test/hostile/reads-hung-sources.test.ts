import { strict as assert } from 'node:assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { call, demoBoat, startBoat, waitFor } from '../e2e/harness';
import { readExport } from '../support/exports';

/** An address nothing listens on: the exports stay queued, as at sea. */
const UNREACHABLE = 'http://127.0.0.1:9';

/** A request that must be answered within `ms`, or the test says it hung. */
async function answeredWithin(nodeRed: RunningNodeRed, method: string, url: string, ms: number) {
    return Promise.race([call(nodeRed, method, url), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${method} ${url} got no answer within ${ms} ms: Node-RED hangs`)), ms))]);
}

function fifoInPlaceOf(file: string): void {
    fs.rmSync(file, { force: true });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    execFileSync('mkfifo', [file]);
}

// On c1f1f9a each export blocked one of libuv's four threads on a FIFO for ever; after four, /health hung too.
describe('hostile reads: FIFOs in place of the files collectors read', function () {
    this.timeout(180000);
    let scratch: { dir: string; remove: () => void };
    let nodeRed: RunningNodeRed;
    let boat: Awaited<ReturnType<typeof demoBoat>>;

    before(async () => {
        scratch = scratchFolder('hostile-reads-fifo');
        boat = await demoBoat(scratch.dir, { tier: 2 });
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: UNREACHABLE });
        // Four sources replaced by FIFOs nobody writes to (a hung USB mount blocks the same way).
        fifoInPlaceOf(boat.layout.qrCodes);
        fifoInPlaceOf(boat.layout.alertsJson);
        fifoInPlaceOf(boat.layout.boatlogDb);
        fifoInPlaceOf(boat.layout.vesselEnv);
    });

    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('five exports at once each finish, the FIFO categories carrying an error that names the file, the others exporting', async () => {
        // At once, as five taps or a script would: on c1f1f9a they took all four of libuv's threads.
        const answers = await Promise.all(Array.from({ length: 5 }, () => answeredWithin(nodeRed, 'POST', '/export/generate', 60000)));
        for (const answer of answers) {
            assert.equal(answer.status, 200, answer.text);
            const exp = readExport(answer.json.export_file).json;
            assert.match(exp.data.qr_codes.error, /qr-codes\.json is a FIFO/);
            assert.match(exp.data.boatlog.error, /boatlog\.db is a FIFO/);
            assert.match(exp.data.system_alerts.error, /alerts\.json is a FIFO/);
            assert.match(exp.data.onboarding.error, /vessel\.env is a FIFO/);
            assert.ok(exp.data.telemetry.entry_count > 0, 'telemetry still exports');
            assert.ok(exp.data.marine_vision_captures.entry_count > 0, 'captures still export');
        }
    });

    it('/health still answers within a few seconds and says degraded, naming each FIFO', async () => {
        const health = await answeredWithin(nodeRed, 'GET', '/health', 5000);
        assert.equal(health.status, 503, health.text);
        assert.equal(health.json.status, 'degraded');
        assert.equal(health.json.tier, 2, 'the fields it always had stay');
        const problems: string[] = health.json.problems;
        for (const file of ['data/qr-codes.json', 'data/alerts.json', 'data/boatlog/boatlog.db', 'services/dashboard/config/vessel.env']) {
            assert.ok(
                problems.some((p) => p.startsWith(`${file} is a FIFO`)),
                `${file} not named in:\n${problems.join('\n')}`,
            );
        }
    });

    it('every other endpoint answers too', async () => {
        for (const url of ['/tier/status', '/export/status', '/export/queue/status', '/export/list']) {
            const answer = await answeredWithin(nodeRed, 'GET', url, 5000);
            assert.equal(answer.status, 200, `${url}: ${answer.text}`);
        }
    });

    it('a license.json that is a FIFO: /health answers degraded at once, naming it', async () => {
        fifoInPlaceOf(boat.layout.license);
        // /health reads the license at most once a second; then every answer names the FIFO.
        await waitFor(
            '/health to read the license again',
            async () => (await answeredWithin(nodeRed, 'GET', '/health', 5000)).json.problems.some((p: string) => /license\.json is a FIFO/.test(p)),
            10000,
        );
        for (let i = 0; i < 5; i++) {
            const health = await answeredWithin(nodeRed, 'GET', '/health', 5000);
            assert.equal(health.json.status, 'degraded');
            assert.ok(
                health.json.problems.some((p: string) => /license\.json is a FIFO/.test(p)),
                health.text,
            );
        }
        const refused = await answeredWithin(nodeRed, 'POST', '/export/generate', 10000);
        assert.ok(refused.status >= 400, refused.text);
        assert.match(refused.json.error, /license\.json/);
    });
});
