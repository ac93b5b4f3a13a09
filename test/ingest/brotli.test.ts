import assert from 'node:assert/strict';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import * as zlib from 'zlib';
import { BoatDataError } from '../../lib/errors';
import { spoolUpload, uploadBytes } from '../../lib/ingest/body';
import { health, IngestSettings, receiveUpload } from '../../lib/ingest/ingest';
import { importRoute } from '../../lib/ingest/import-route';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { forEachStore } from './stores';
import { smallExport } from './uploads';

// Brotli beside gzip: each hostile body gets the answer its gzip twin gets, at the same point.

const BOAT = 'a1b2c3d4e5f60718';

const encoders = {
    gzip: (data: Buffer) => zlib.gzipSync(data, { level: 9 }),
    br: (data: Buffer) => zlib.brotliCompressSync(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } }),
};

async function refusal(promise: Promise<unknown>): Promise<{ statusCode: number; message: string }> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof BoatDataError, `expected a BoatDataError, got ${err}`);
        return { statusCode: err.statusCode, message: err.message };
    }
    throw new Error('the body was accepted');
}

forEachStore('central ingest: brotli uploads', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;
    let settings: IngestSettings;
    const send = (encoding: 'gzip' | 'br', body: Buffer) => receiveUpload(store, settings, { headers: { authorization: `Bearer ${BOAT}`, 'content-encoding': encoding }, body });

    beforeEach(async () => {
        scratch = scratchFolder('ingest-brotli');
        settings = { dataDir: path.join(scratch.dir, 'central'), mode: 'open', maxBodyBytes: 64 * 1024 * 1024 };
        store = await kind.open(settings.dataDir, await kind.freshDatabase());
    });
    afterEach(async () => {
        await store.close();
        scratch.remove();
    });

    it('an export sent as br is stored as its gzip twin is, and the health answer names br and gzip', async () => {
        const answer = await send('br', encoders.br(Buffer.from(smallExport(BOAT, 'export_br_1'))));
        assert.equal(answer.status, 'success');
        assert.ok(answer.records_imported > 0);
        assert.deepEqual((await health(store, settings)).accept_encoding, ['br', 'gzip']);
    });

    const twins: Array<[string, () => Buffer]> = [
        ['zeros (not JSON at the first byte)', () => Buffer.alloc(64 * 1024 * 1024)],
        ['blank space after its first megabyte', () => Buffer.concat([Buffer.from(`{"export_id":"export_space","installation_id":"${BOAT}",`), Buffer.alloc(64 * 1024 * 1024, 0x20)])],
        ['a body that is not JSON', () => Buffer.from('this is not an export at all, just words')],
    ];
    for (const [what, make] of twins) {
        it(`${what}: the same answer in br as in gzip, nothing stored`, async () => {
            const plain = make();
            const gzip = await refusal(send('gzip', encoders.gzip(plain)));
            const br = await refusal(send('br', encoders.br(plain)));
            assert.equal(br.statusCode, gzip.statusCode);
            assert.equal(br.message, gzip.message);
            assert.equal((await store.counts()).exports, 0);
        });
    }

    it('a br bomb is refused with 413 at the inflation cap, as the gzip bomb is', async function () {
        this.timeout(120000);
        // 300 MB of zeros, a few hundred bytes as sent: past the 256 MB floor of the cap.
        const plain = Buffer.alloc(300 * 1024 * 1024);
        for (const encoding of ['gzip', 'br'] as const) {
            const spool = await spoolUpload(encoders[encoding](plain), settings.maxBodyBytes);
            let inflated = 0;
            const refused = await refusal(
                (async () => {
                    for await (const chunk of uploadBytes(spool, encoding)) inflated += chunk.length;
                })(),
            );
            await spool.discard();
            assert.equal(refused.statusCode, 413, encoding);
            assert.match(refused.message, new RegExp(`inflates more than 200 times its size \\(a ${encoding === 'br' ? 'brotli' : 'gzip'} bomb`));
            assert.ok(inflated <= 256 * 1024 * 1024, `${encoding}: ${inflated} bytes came out before the refusal`);
        }
    });

    it('a body that is not brotli, or cut short, is refused with 400 saying so', async () => {
        assert.match((await refusal(send('br', Buffer.from('{"plain": "json, not brotli"}')))).message, /not valid brotli data|truncated/);
        const whole = encoders.br(Buffer.from(smallExport(BOAT, 'export_br_cut')));
        const cut = await refusal(send('br', whole.subarray(0, Math.floor(whole.length / 2))));
        assert.equal(cut.statusCode, 400);
        assert.equal((await store.counts()).exports, 0);
    });

    it('an encoding it does not decode is answered 415 with Accept-Encoding: br, gzip (RFC 9110)', async () => {
        const server = http.createServer(importRoute(async () => ({ store, settings })));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
            const { port } = server.address() as AddressInfo;
            const answer = await new Promise<{ status: number; accept: string | undefined; body: string }>((resolve, reject) => {
                const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/', headers: { authorization: `Bearer ${BOAT}`, 'content-encoding': 'compress' } }, (res) => {
                    let body = '';
                    res.on('data', (c) => (body += c));
                    res.on('end', () => resolve({ status: res.statusCode ?? 0, accept: res.headers['accept-encoding'] as string | undefined, body }));
                });
                req.on('error', reject);
                req.end('x');
            });
            assert.equal(answer.status, 415);
            assert.equal(answer.accept, 'br, gzip');
            assert.match(JSON.parse(answer.body).error, /Content-Encoding "compress" is not supported; send the export compressed with br or gzip/);
        } finally {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
        }
    });
});
