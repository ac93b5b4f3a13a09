import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import express from 'express';
import { helper, nextError, nextMessage } from '../support/node-red';
import { scratchFolder } from '../support/folders';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import configNode = require('../../nodes/config/config');
import boatlogCsvNode = require('../../nodes/boatlog-csv/boatlog-csv');

function flow(boat: DemoBoat, csv: Record<string, unknown> = {}) {
    return [
        { id: 'boat', type: 'd3kos-config', root: boat.root, mediaDir: boat.mediaDir },
        { id: 'csv', type: 'd3kos-boatlog-csv', boat: 'boat', output: 'response', file: '', wires: [['out']], ...csv },
        { id: 'out', type: 'helper' },
    ];
}

/** A real HTTP server on 127.0.0.1 whose requests go into the node as http in would send them. */
async function serveThroughNode(): Promise<{ get: () => Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>; close: () => void; sent: any[] }> {
    const app = express();
    const sent: any[] = [];
    app.get('/export/boatlog/csv', (req, res) => {
        const msg = { req: { params: {} }, res: { _res: res } };
        sent.push(msg);
        helper.getNode('csv').receive(msg);
    });
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as any).port;
    return {
        get: () =>
            new Promise((resolve, reject) => {
                http.get(`http://127.0.0.1:${port}/export/boatlog/csv`, (res) => {
                    const chunks: Buffer[] = [];
                    res.on('data', (c) => chunks.push(c));
                    res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
                }).on('error', reject);
            }),
        close: () => server.close(),
        sent,
    };
}

describe('boatlog-csv node', function () {
    this.timeout(30000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;

    beforeEach(async () => {
        scratch = scratchFolder('boatlog-csv-node');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 500, telemetryRows: 0 });
    });
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    it('streams the boatlog into the HTTP answer as a CSV download', async () => {
        await helper.load([configNode, boatlogCsvNode], flow(boat));
        const server = await serveThroughNode();
        try {
            const reported = nextMessage(helper.getNode('out'));
            const answer = await server.get();
            assert.equal(answer.status, 200);
            assert.equal(answer.headers['content-type'], 'text/csv; charset=utf-8');
            assert.match(String(answer.headers['content-disposition']), /^attachment; filename="boatlog_\d{4}-\d{2}-\d{2}\.csv"$/);
            const text = answer.body.toString('utf8');
            assert.ok(text.startsWith('\uFEFFTimestamp,Type,Content,Latitude,Longitude\r\n'));
            const msg = await reported;
            assert.equal(msg.payload.rows, 500);
            assert.equal(msg.payload.size_bytes, answer.body.length);
            assert.equal(msg.res, undefined, 'the request was answered here; the flow must not answer it again');
        } finally {
            server.close();
        }
    });

    it('a damaged boatlog is an error before any byte is sent, so the flow can still answer it', async () => {
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(boat.layout.boatlogDb + suffix, { force: true });
        fs.writeFileSync(boat.layout.boatlogDb, 'not a database '.repeat(300));
        await helper.load([configNode, boatlogCsvNode], flow(boat));
        const server = await serveThroughNode();
        try {
            const failed = nextError(helper.getNode('csv'));
            const answer = server.get();
            assert.match((await failed).message, /boatlog\.db is damaged/);
            const msg = server.sent[0];
            assert.ok(msg.res, 'msg.res is kept for the error answer');
            // What the flow's catch path and http response node do with it.
            msg.res._res.status(msg.statusCode ?? 500).json({ success: false, error: 'boatlog.db is damaged' });
            const { status, headers, body } = await answer;
            assert.equal(status, 500);
            assert.match(String(headers['content-type']), /^application\/json/);
            assert.equal(headers['content-disposition'], undefined, 'the download headers were left on an error answer');
            assert.equal(JSON.parse(body.toString()).success, false);
        } finally {
            server.close();
        }
    });

    it('refuses a tier 0 boat through done(err) with 403, whatever the flow in front', async () => {
        const license = JSON.parse(fs.readFileSync(boat.layout.license, 'utf8'));
        fs.writeFileSync(boat.layout.license, JSON.stringify({ ...license, tier: 0 }));
        await helper.load([configNode, boatlogCsvNode], flow(boat, { output: 'file', file: path.join(scratch.dir, 'out.csv') }));
        const failed = nextError(helper.getNode('csv'));
        const msg: any = {};
        helper.getNode('csv').receive(msg);
        assert.equal((await failed).message, 'Export requires Tier 1 or higher');
        assert.equal(msg.statusCode, 403);
        assert.ok(!fs.existsSync(path.join(scratch.dir, 'out.csv')));
    });

    it('writes a file named in msg.filename, or hands the CSV over as a payload with download headers', async () => {
        await helper.load([configNode, boatlogCsvNode], flow(boat, { output: 'file', file: path.join(scratch.dir, 'default.csv') }));
        const target = path.join(scratch.dir, 'usb', 'log.csv');
        const written = nextMessage(helper.getNode('out'));
        helper.getNode('csv').receive({ filename: target });
        assert.equal((await written).payload.size_bytes, fs.statSync(target).size);
        await helper.unload();

        await helper.load([configNode, boatlogCsvNode], flow(boat, { output: 'payload' }));
        const handed = nextMessage(helper.getNode('out'));
        helper.getNode('csv').receive({});
        const msg = await handed;
        assert.ok(Buffer.isBuffer(msg.payload));
        assert.ok(msg.payload.equals(fs.readFileSync(target)));
        assert.match(msg.headers['Content-Disposition'], /^attachment; filename="boatlog_/);
    });
});
