import assert from 'node:assert/strict';
import * as net from 'net';
import * as path from 'path';
import sqlite3 from 'sqlite3';
import { readLicense } from '../../lib/boat/license';
import { appendCategory, CategoryOutput, finishExport, startExport } from '../../lib/export/export-file';
import { ExportQueue } from '../../lib/queue/export-queue';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import type { DemoBoat } from '../../tools/demo-boat';
import { scratchFolder } from '../support/folders';
import { call, demoBoat, readQueueFile, startBoat, startCentral, waitFor } from './harness';

// A boat a month offline comes back on a metered link with a 5 MB budget. Between it and the central
// side, a TCP proxy on loopback counts every byte both ways, headers included.

const DAYS = 30;
const TELEMETRY_PER_DAY = 33_334;
const BOATLOG_PER_DAY = 20;
const ALERTS_PER_DAY = 2;
const BUDGET_BYTES = 5_000_000;

/** A TCP proxy that counts the bytes it carries, and can play a link that is not there. */
async function countingProxy(targetPort: number): Promise<{ port: number; bytes: number; up: boolean; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const proxy = {
        port: 0,
        bytes: 0,
        up: false,
        close: () =>
            new Promise<void>((resolve) => {
                for (const s of sockets) s.destroy();
                server.close(() => resolve());
            }),
    };
    const server = net.createServer((client) => {
        sockets.add(client);
        client.on('close', () => sockets.delete(client));
        if (!proxy.up) return void client.destroy();
        const upstream = net.connect(targetPort, '127.0.0.1');
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        client.on('data', (chunk: Buffer) => (proxy.bytes += chunk.length));
        upstream.on('data', (chunk: Buffer) => (proxy.bytes += chunk.length));
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy.port = (server.address() as net.AddressInfo).port;
    return proxy;
}

/** Rows per category in the central side's store, read from its SQLite file. */
function centralRows(dataDir: string, installationId: string): Promise<Record<string, number>> {
    return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(path.join(dataDir, 'ingest.db'), sqlite3.OPEN_READONLY, (err) => {
            if (err) return reject(err);
            db.all<{ category: string; n: number }>('SELECT category, count(*) AS n FROM category_rows WHERE installation_id = ? GROUP BY category', [installationId], (e, rows) => {
                db.close();
                if (e) return reject(e);
                resolve(Object.fromEntries(rows.map((r) => [r.category, r.n])));
            });
        });
    });
}

async function writeRows(out: CategoryOutput, category: string, count: number, row: (i: number) => unknown): Promise<{ entry_count: number; has_data: boolean }> {
    await out.write(`{"category":${JSON.stringify(category)},"entry_count":${count},"entries":[`);
    for (let i = 0; i < count; i += 1000) {
        const slice = [];
        for (let j = i; j < Math.min(count, i + 1000); j++) slice.push(JSON.stringify(row(j)));
        await out.write((i > 0 ? ',' : '') + slice.join(','));
    }
    await out.write(']}');
    return { entry_count: count, has_data: count > 0 };
}

/** Thirty days of exports the boat made at sea, one a day, real export files in the real format, queued as the export node queues them. */
async function monthAtSea(boat: DemoBoat): Promise<void> {
    const license = await readLicense(boat.layout.license);
    const queue = new ExportQueue(boat.layout);
    for (let day = 0; day < DAYS; day++) {
        const at = new Date(Date.now() - (DAYS - day) * 86400_000);
        const stamp = (i: number, per: number) => new Date(at.getTime() - 86400_000 + Math.floor((i * 86400_000) / per)).toISOString();
        const exp = await startExport(boat.layout, license, 'full', at);
        await appendCategory(exp, 'boatlog', (out) =>
            writeRows(out, 'boatlog', BOATLOG_PER_DAY, (i) => ({
                entry_id: day * 1000 + i,
                timestamp: stamp(i, BOATLOG_PER_DAY),
                entry_type: 'text',
                content: `day ${day} note ${i}`,
                latitude: 44.1,
                longitude: -68.2,
                weather_conditions: null,
            })),
        );
        await appendCategory(exp, 'system_alerts', (out) =>
            writeRows(out, 'system_alerts', ALERTS_PER_DAY, (i) => ({
                source: 'issues',
                id: day * 10 + i,
                timestamp: stamp(i, ALERTS_PER_DAY),
                category: 'power',
                severity: 'warning',
                description: 'house bank low',
                status: 'open',
            })),
        );
        await appendCategory(exp, 'telemetry', (out) =>
            writeRows(out, 'telemetry', TELEMETRY_PER_DAY, (i) => ({
                id: day * TELEMETRY_PER_DAY + i,
                timestamp: stamp(i, TELEMETRY_PER_DAY),
                event_type: 'engine',
                data: JSON.stringify({ rpm: 1500 + (i % 400), coolant_c: 70 + (i % 15), oil_kpa: 300 + (i % 50), sog_kn: (i % 90) / 10 }),
            })),
        );
        await queue.enqueue(await finishExport(exp));
    }
}

describe('a boat back on a metered link after a month offline', function () {
    this.timeout(20 * 60_000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    const running: RunningNodeRed[] = [];
    let proxy: Awaited<ReturnType<typeof countingProxy>>;

    before(async () => {
        scratch = scratchFolder('metered-link');
        // Tier 1: no daily export of its own joins the month's.
        boat = await demoBoat(scratch.dir, { tier: 1, boatlogRows: 0, telemetryRows: 0 });
        await monthAtSea(boat);
    });
    after(async () => {
        for (const n of running.splice(0)) await n.kill('SIGKILL').catch(() => undefined);
        await proxy?.close();
        scratch?.remove();
    });

    it('sends every urgent row within a minute inside the budget, then everything exactly once when unmetered, through a SIGKILL', async () => {
        const queued = readQueueFile(boat);
        assert.equal(queued.pending.length, 2 * DAYS, 'an urgent and a bulk upload for each day');
        const central = await startCentral(scratch.dir);
        running.push(central);
        const centralData = path.join(scratch.dir, 'central-data');
        proxy = await countingProxy(central.port);
        const env = { D3KOS_LINK: 'metered:5' };
        const centralUrl = `http://127.0.0.1:${proxy.port}`;
        let nodeRed = await startBoat(scratch.dir, boat, { centralUrl, env });
        running.push(nodeRed);
        const link = await call(nodeRed, 'GET', '/api/link');
        assert.equal(link.status, 200, link.text);
        assert.equal(link.json.kind, 'metered');
        assert.equal(link.json.daily_budget_mb, 5);

        // Back in reach.
        await new Promise((r) => setTimeout(r, 2000));
        proxy.bytes = 0;
        proxy.up = true;
        const back = Date.now();
        await waitFor(
            'every urgent row stored centrally',
            async () => {
                const rows = await centralRows(centralData, boat.installationId).catch(() => ({}) as Record<string, number>);
                return rows.boatlog === DAYS * BOATLOG_PER_DAY && rows.system_alerts === DAYS * ALERTS_PER_DAY;
            },
            60_000,
        );
        const urgentSeconds = (Date.now() - back) / 1000;
        assert.ok(urgentSeconds <= 60, `${urgentSeconds} s`);

        // What the budget allows of the bulk goes; then nothing more, however long the boat waits.
        const settled = await waitFor(
            'the metered link to be left with only bulk uploads past the budget',
            async () => {
                const before = proxy.bytes;
                await new Promise((r) => setTimeout(r, 4000));
                const answer = await call(nodeRed, 'GET', '/api/link');
                return proxy.bytes === before && answer.json.waiting.length > 0 ? answer.json : undefined;
            },
            300_000,
        );
        assert.ok(proxy.bytes <= BUDGET_BYTES, `${proxy.bytes} bytes through the proxy on a ${BUDGET_BYTES}-byte budget`);
        assert.ok(settled.bytes_today >= proxy.bytes * 0.95 && settled.bytes_today <= BUDGET_BYTES, `the boat counted ${settled.bytes_today}, the proxy saw ${proxy.bytes}`);
        assert.match(settled.waiting[0].text, /^Telemetry waits for Wi-Fi: \d+(\.\d)? MB$/);
        const meteredBytes = proxy.bytes;
        console.log(
            `      urgent rows stored ${urgentSeconds.toFixed(1)} s after reconnection; ${meteredBytes} bytes through the proxy, ${settled.bytes_today} counted by the boat; ${settled.waiting[0].text}`,
        );
        const partial = await centralRows(centralData, boat.installationId);
        assert.ok((partial.telemetry ?? 0) < DAYS * TELEMETRY_PER_DAY, 'bulk waits');

        // Wi-Fi: everything that waited goes at once. Node-RED is killed in the middle of it.
        const unmetered = await call(nodeRed, 'POST', '/api/link', { body: JSON.stringify({ kind: 'unmetered' }), headers: { 'Content-Type': 'application/json' } });
        assert.equal(unmetered.status, 200, unmetered.text);
        assert.equal(unmetered.json.kind, 'unmetered');
        await waitFor('some bulk uploads to have gone', async () => ((await centralRows(centralData, boat.installationId)).telemetry ?? 0) > (partial.telemetry ?? 0) + 3 * TELEMETRY_PER_DAY, 300_000);
        await nodeRed.kill('SIGKILL');
        running.splice(running.indexOf(nodeRed), 1);
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl, env });
        running.push(nodeRed);
        assert.equal((await call(nodeRed, 'GET', '/api/link')).json.kind, 'unmetered', 'the choice outlived the kill');

        const rows = await waitFor(
            'every row stored centrally',
            async () => {
                const now = await centralRows(centralData, boat.installationId);
                return now.telemetry === DAYS * TELEMETRY_PER_DAY ? now : undefined;
            },
            600_000,
        );
        assert.equal(rows.boatlog, DAYS * BOATLOG_PER_DAY);
        assert.equal(rows.system_alerts, DAYS * ALERTS_PER_DAY);
        const queue = await waitFor('the queue to be empty', async () => {
            const file = readQueueFile(boat);
            return file.pending.length + file.uploading.length === 0 ? file : undefined;
        });
        assert.equal(queue.failed.length, 0);
        assert.ok(meteredBytes <= BUDGET_BYTES);
    });
});
