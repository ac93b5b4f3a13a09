import assert from 'node:assert/strict';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { readLicense } from '../../lib/boat/license';
import { exportBoatData } from '../../lib/export/collect-export';
import { readWatermarks } from '../../lib/export/watermarks';
import { health, IngestSettings, receiveUpload } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { ExportQueue } from '../../lib/queue/export-queue';
import { uploadExport } from '../../lib/upload/central-api';
import { AttemptReport, UploadWorker } from '../../lib/upload/worker';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { scratchFolder } from '../support/folders';

// The package's own central ingest, served over local HTTP as its http-in nodes would serve it.
describe('uploads to the real central ingest', function () {
    this.timeout(30000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let store: IngestStore;
    let server: http.Server;
    let url: string;

    before(async () => {
        scratch = scratchFolder('real-ingest');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 30, telemetryRows: 40 });
        const dataDir = path.join(scratch.dir, 'central');
        store = await IngestStore.open(dataDir);
        const settings: IngestSettings = { dataDir, mode: 'open', maxBodyBytes: 64 * 1024 * 1024 };
        server = http.createServer(async (req, res) => {
            const reply = (status: number, body: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
            try {
                if (req.url === '/api/v1/health') return reply(200, await health(store, settings));
                if (req.url === '/api/v1/data/import') return reply(200, await receiveUpload(store, settings, { headers: req.headers as any, body: req }));
                reply(404, { success: false, error: 'no such route' });
            } catch (err) {
                reply((err as { statusCode?: number }).statusCode ?? 500, { success: false, error: (err as Error).message });
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

    it('an incremental export is stored centrally, confirmed with its import id, and only then are the marks moved', async () => {
        const attempts: AttemptReport[] = [];
        const queue = new ExportQueue(boat.layout);
        const worker = new UploadWorker({
            queue,
            watermarksFile: boat.layout.watermarksFile,
            centralUrl: () => url,
            license: () => readLicense(boat.layout.license),
            deviceToken: () => undefined,
            onAttempt: (report) => attempts.push(report),
        });
        const exp = await exportBoatData(boat.layout, 'incremental');
        await queue.enqueue(exp);
        const round = await worker.process();
        // The urgent part (boatlog and the rest) first, then the bulk part (telemetry) under its own export id.
        assert.equal(round.uploaded, 2, round.message);
        assert.deepEqual(
            attempts.map((a) => [a.outcome, a.entry.export_id]),
            [
                ['completed', exp.export_id],
                ['completed', `${exp.export_id}-bulk`],
            ],
        );
        assert.ok(attempts[0].entry.import_id, 'the ingest gave an import id');
        assert.ok((attempts[0].entry.records_imported ?? 0) > 0);
        assert.deepEqual((await readWatermarks(boat.layout.watermarksFile)).acknowledged.boatlog, exp.watermarks.boatlog);

        // Sent again (a retry after a lost answer): the ingest says it has it, which is a success.
        const again = await uploadExport({ centralUrl: url, file: exp.export_file, encoding: exp.encoding, stored: true, exportId: exp.export_id, token: boat.installationId });
        assert.equal(again.kind, 'accepted');
        assert.equal(again.kind === 'accepted' && again.already_imported, true);
    });
});
