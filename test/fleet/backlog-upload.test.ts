import assert from 'node:assert/strict';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { readLicense } from '../../lib/boat/license';
import { exportBoatData } from '../../lib/export/collect-export';
import { fleetBoats } from '../../lib/fleet/fleet-boats';
import { IngestSettings, receiveUpload } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { ExportQueue } from '../../lib/queue/export-queue';
import { UploadWorker } from '../../lib/upload/worker';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { scratchFolder } from '../support/folders';

// A real boat's queue and upload worker against the package's ingest over local HTTP: the central side learns
// what waits on the boat from the X-D3kOS-Backlog header of each upload.
describe("the backlog a boat's upload reports reaches the fleet page", function () {
    this.timeout(30000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let store: IngestStore;
    let server: http.Server;
    let url: string;
    const seen: string[] = [];

    before(async () => {
        scratch = scratchFolder('backlog-upload');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 20, telemetryRows: 20 });
        const dataDir = path.join(scratch.dir, 'central');
        store = await IngestStore.open(dataDir);
        const settings: IngestSettings = { dataDir, mode: 'open', maxBodyBytes: 64 * 1024 * 1024 };
        server = http.createServer(async (req, res) => {
            const reply = (status: number, body: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
            try {
                // As the ingest's own health answer says: br and gzip (exports go as stored, in br).
                if (req.url === '/api/v1/health') return reply(200, { status: 'ok', accept_encoding: ['br', 'gzip'] });
                seen.push(String(req.headers['x-d3kos-backlog']));
                reply(200, await receiveUpload(store, settings, { headers: req.headers as any, body: req }));
            } catch (err) {
                reply((err as { statusCode?: number }).statusCode ?? 500, { status: 'error', error: (err as Error).message });
            }
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await store.close();
        scratch.remove();
    });

    it('each upload tells how many exports wait (itself included) and their bytes, and the newest report is kept', async () => {
        const queue = new ExportQueue(boat.layout);
        const worker = new UploadWorker({ queue, watermarksFile: boat.layout.watermarksFile, centralUrl: () => url, license: () => readLicense(boat.layout.license), deviceToken: () => undefined });
        const first = await exportBoatData(boat.layout, 'full');
        const second = await exportBoatData(boat.layout, 'full');
        await queue.enqueue(first);
        await queue.enqueue(second);
        // Each export may be queued as two uploads (urgent and bulk parts, lib/queue/parts.ts): what waits is entries.
        const { pending_count, items } = await queue.snapshot();
        assert.ok(pending_count >= 2);
        const sizes = items.pending.map((e) => e.file_size_bytes);

        const round = await worker.process();
        assert.equal(round.uploaded, pending_count, round.message);
        // Every upload tells what waits, itself included: all of it first, then one fewer each time.
        assert.deepEqual(
            seen.map((h) => h.replace(/; bytes=\d+$/, '')),
            sizes.map((_, i) => `exports=${pending_count - i}`),
        );
        assert.equal(seen[0], `exports=${pending_count}; bytes=${sizes.reduce((a, b) => a + b, 0)}`);

        const [shown] = (await fleetBoats(store, {})).boats;
        assert.equal(shown.installation_id, boat.installationId);
        assert.equal(shown.backlog?.exports, 1);
        assert.equal(shown.backlog?.bytes, sizes[sizes.length - 1]);
    });
});
