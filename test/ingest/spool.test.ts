import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { Readable } from 'stream';
import * as zlib from 'zlib';
import { IngestSettings, receiveUpload } from '../../lib/ingest/ingest';
import { RetryLaterError } from '../../lib/ingest/spool-folder';
import { IngestStore } from '../../lib/ingest/store';
import { call, startCentral } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { forEachStore } from './stores';
import { smallExport } from './uploads';

// The central's upload spool: in the ingest's data folder, within a cap on bytes and on uploads at once,
// and emptied at start, so neither RAM (the system temp folder on Debian 13) nor a killed Node-RED keeps it.

const BOAT = 'b0a7b0a7b0a7b0a7';

/** Files waiting in the spool of a data folder. */
const spooled = (dataDir: string) => {
    const dir = path.join(dataDir, 'spool');
    return fs.existsSync(dir)
        ? fs
              .readdirSync(dir, { recursive: true })
              .map(String)
              .filter((name) => name.includes('d3kos-upload-'))
        : [];
};

async function until(what: string, check: () => boolean, ms = 10000): Promise<void> {
    for (const deadline = Date.now() + ms; !check();) {
        assert.ok(Date.now() < deadline, what);
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
}

/** An export over 1 MB as sent (random hex compresses about 2:1). */
const bigUpload = (exportId: string) => zlib.gzipSync(smallExport(BOAT, exportId, 600, 4000));

forEachStore('central ingest: the upload spool', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;
    let database: string;

    beforeEach(async () => {
        scratch = scratchFolder('ingest-spool');
        database = await kind.freshDatabase();
        store = await kind.open(path.join(scratch.dir, 'central'), database);
    });
    afterEach(async () => {
        await store.close();
        scratch.remove();
    });

    const settingsWith = (dataDir: string, spool: IngestSettings['spool']): IngestSettings => ({ dataDir, mode: 'open', maxBodyBytes: 64 * 1024 * 1024, spool });
    const headers = { authorization: `Bearer ${BOAT}`, 'content-encoding': 'gzip' };

    it('past its uploads at once, a large upload is told 429 with a time to come back; past its bytes, 503', async () => {
        const settings = settingsWith(path.join(scratch.dir, 'one-at-a-time'), { maxBytes: 64 * 1024 * 1024, maxUploads: 1 });
        const first = bigUpload('export_first');
        const waiting = new Readable({ read() {} });
        const firstSent = receiveUpload(store, settings, { headers, body: waiting });
        waiting.push(first.subarray(0, 1200 * 1024));
        await until('the first upload waits in the spool', () => spooled(settings.dataDir).length === 1);

        const busy = await receiveUpload(store, settings, { headers, body: bigUpload('export_second') }).catch((err) => err);
        assert.ok(busy instanceof RetryLaterError, String(busy));
        assert.equal(busy.statusCode, 429);
        assert.ok(busy.retryAfterSeconds > 0);
        // A small upload waits in memory and is let in meanwhile.
        assert.equal((await receiveUpload(store, settings, { headers, body: zlib.gzipSync(smallExport(BOAT, 'export_small', 3)) })).already_imported, false);

        waiting.push(first.subarray(1200 * 1024));
        waiting.push(null);
        assert.equal((await firstSent).already_imported, false);
        assert.equal((await receiveUpload(store, settings, { headers, body: bigUpload('export_second') })).already_imported, false, 'its place is free again');

        const small = settingsWith(path.join(scratch.dir, 'two-megabytes'), { maxBytes: 2 * 1024 * 1024, maxUploads: 4 });
        const full = await receiveUpload(store, small, { headers, body: Buffer.concat([bigUpload('export_third'), crypto.randomBytes(2 * 1024 * 1024)]) }).catch((err) => err);
        assert.ok(full instanceof RetryLaterError && full.statusCode === 503, String(full));
        assert.match(full.message, /fill the 2 MB set aside for them/);
        assert.deepEqual(spooled(small.dataDir), []);
    });

    it('a Node-RED killed while an upload waits in its spool leaves nothing there after its next start', async function () {
        this.timeout(120000);
        await store.close();
        const env = { D3KOS_INGEST_DATABASE_URL: database };
        const dataDir = path.join(scratch.dir, 'central-data');
        let central = await startCentral(scratch.dir, env);
        const body = bigUpload('export_killed');
        const req = http.request(`${central.url}/api/v1/data/import`, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) } });
        req.on('error', () => undefined);
        req.write(body.subarray(0, 1200 * 1024));
        await until('the upload waits in the spool', () => spooled(dataDir).length === 1);
        await central.kill('SIGKILL');
        req.destroy();
        assert.equal(spooled(dataDir).length, 1, 'the killed Node-RED left its spool file');

        central = await startCentral(scratch.dir, env);
        try {
            // Node-RED answers HTTP before its flows have started; the ingest answering means its nodes are there.
            assert.equal((await call(central, 'GET', '/api/v1/health')).status, 200);
            await until('the spool is emptied at start', () => spooled(dataDir).length === 0, 5000);
        } finally {
            await central.stop();
            store = await kind.open(path.join(scratch.dir, 'central'), database);
        }
    });
});
