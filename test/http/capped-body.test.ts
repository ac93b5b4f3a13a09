import assert from 'node:assert/strict';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { PassThrough } from 'stream';
import { announcedTooLarge, readCappedBody } from '../../lib/http/capped-body';

const LIMITS = { maxBytes: 1024, deadlineMs: 400 };

/** A real server on loopback whose handler reads the body under LIMITS and answers what happened. */
async function withServer(run: (port: number) => Promise<void>): Promise<void> {
    const server = http.createServer((req, res) => {
        readCappedBody(req, LIMITS).then(
            (body) => res.end(JSON.stringify({ bytes: body.length })),
            (err) => {
                if (err.code === 'BODY_ABORTED') return;
                res.writeHead(err.statusCode, { Connection: 'close' }).end(JSON.stringify({ code: err.code }));
            },
        );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
        await run((server.address() as AddressInfo).port);
    } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
    }
}

function post(port: number, headers: Record<string, string | number>, write: (req: http.ClientRequest) => void): Promise<{ status?: number; body?: string; error?: string }> {
    return new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false });
        req.on('response', (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode, body }));
        });
        req.on('error', (err) => resolve({ error: err.message }));
        write(req);
    });
}

describe('reading a body under a cap', () => {
    it('a body within the cap is read whole', async () => {
        const stream = new PassThrough();
        const read = readCappedBody(stream, LIMITS);
        stream.end(Buffer.from('{"mode":"full"}'));
        assert.equal((await read).toString(), '{"mode":"full"}');
    });

    it('a body one byte over the cap is refused with a 413, and reading stops there', async () => {
        const stream = new PassThrough();
        const read = readCappedBody(stream, LIMITS);
        stream.write(Buffer.alloc(1024, 'a'));
        stream.write(Buffer.from('b'));
        await assert.rejects(read, (err: any) => err.statusCode === 413 && err.code === 'BODY_TOO_LARGE' && /larger than 1 KB/.test(err.message));
        assert.equal(stream.listenerCount('data'), 0, 'no one reads on');
    });

    it('a body that does not arrive within the deadline is refused with a 408', async () => {
        const stream = new PassThrough();
        stream.write('{');
        await assert.rejects(readCappedBody(stream, LIMITS), (err: any) => err.statusCode === 408 && /within 0.4 s/.test(err.message));
    });

    it('an announced Content-Length over the cap is refused before reading; within it, or absent, is not', () => {
        assert.equal(announcedTooLarge({ 'content-length': '1025' }, 1024)?.statusCode, 413);
        assert.equal(announcedTooLarge({ 'content-length': '1024' }, 1024), null);
        assert.equal(announcedTooLarge({}, 1024), null);
        assert.equal(announcedTooLarge({ 'content-length': 'lots' }, 1024)?.statusCode, 413);
    });

    it('over HTTP: a chunked body is cut at the cap and answered 413, a trickle answered 408, a small body read', async () => {
        await withServer(async (port) => {
            const small = await post(port, { 'Content-Length': 5 }, (req) => req.end('hello'));
            assert.deepEqual(small, { status: 200, body: '{"bytes":5}' });

            const cut = await post(port, { 'Transfer-Encoding': 'chunked' }, (req) => {
                req.flushHeaders();
                const chunk = Buffer.alloc(600, 'x');
                const timer = setInterval(() => (req.destroyed ? clearInterval(timer) : req.write(chunk)), 5);
                req.on('close', () => clearInterval(timer));
            });
            assert.ok(cut.status === 413 || cut.error, JSON.stringify(cut));

            const trickle = await post(port, { 'Content-Length': 100 }, (req) => {
                req.flushHeaders();
                const timer = setInterval(() => (req.destroyed ? clearInterval(timer) : req.write('x')), 50);
                req.on('close', () => clearInterval(timer));
            });
            assert.equal(trickle.status, 408, JSON.stringify(trickle));
        });
    });
});
