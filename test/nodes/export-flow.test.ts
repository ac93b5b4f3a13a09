import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { helper, nextError, nextMessage } from '../support/node-red';
import { scratchFolder } from '../support/folders';
import { readExports, assertCompleteExport } from '../support/exports';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { holdExclusiveLock, release } from '../support/sqlite';
import configNode = require('../../nodes/config/config');
import exportNode = require('../../nodes/export/export');
import engineBenchmark = require('../../nodes/engine-benchmark/engine-benchmark');
import boatlog = require('../../nodes/boatlog/boatlog');
import visionCaptures = require('../../nodes/vision-captures/vision-captures');
import visionSnapshots = require('../../nodes/vision-snapshots/vision-snapshots');
import qrCodes = require('../../nodes/qr-codes/qr-codes');
import settings = require('../../nodes/settings/settings');
import systemAlerts = require('../../nodes/system-alerts/system-alerts');
import onboarding = require('../../nodes/onboarding/onboarding');
import telemetry = require('../../nodes/telemetry/telemetry');

const COLLECTOR_TYPES = ['engine-benchmark', 'boatlog', 'vision-captures', 'vision-snapshots', 'qr-codes', 'settings', 'system-alerts', 'onboarding', 'telemetry'];
const NODES = [configNode, exportNode, engineBenchmark, boatlog, visionCaptures, visionSnapshots, qrCodes, settings, systemAlerts, onboarding, telemetry];

/** The nine collectors in series, then the export node, then a helper. */
function boatFlow(boat: DemoBoat) {
    const flow: any[] = [{ id: 'boat', type: 'd3kos-config', root: boat.root, mediaDir: boat.mediaDir }];
    COLLECTOR_TYPES.forEach((type, i) => {
        flow.push({ id: `c${i}`, type: `d3kos-${type}`, boat: 'boat', wires: [[i === COLLECTOR_TYPES.length - 1 ? 'export' : `c${i + 1}`]] });
    });
    flow.push({ id: 'export', type: 'd3kos-export', boat: 'boat', missing: 'collect', wires: [['out']] });
    flow.push({ id: 'out', type: 'helper' });
    return flow;
}

/** An export node alone: it collects all nine categories itself. */
function exportAlone(boat: DemoBoat) {
    return [
        { id: 'boat', type: 'd3kos-config', root: boat.root, mediaDir: boat.mediaDir },
        { id: 'export', type: 'd3kos-export', boat: 'boat', wires: [['out']] },
        { id: 'out', type: 'helper' },
    ];
}

/** What one node passed to a spied method (warn, status…) so far, including calls made before a listener could be added. */
function callsOf(node: any, method: string): any[] {
    return node[method]
        .getCalls()
        .filter((call: any) => call.thisValue === node)
        .map((call: any) => call.args[0]);
}

async function until(what: string, check: () => boolean, ms = 10000): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
    }
}

const partialsIn = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.partial')) : []);

describe('collector and export nodes in a flow', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;

    beforeEach(async () => {
        scratch = scratchFolder('export-flow');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 25, telemetryRows: 50 });
    });
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    it('nine collectors and the export node write one complete export and report it', async function () {
        await helper.load(NODES, boatFlow(boat));
        const out = nextMessage(helper.getNode('out'));
        helper.getNode('c0').receive({ payload: { mode: 'full' } });
        const msg = await out;
        assert.equal(msg.payload.success, true);
        assert.match(msg.payload.export_id, /^export_\d{8}_\d{6}_\d{3}_[0-9a-f]{4}$/);
        assert.deepEqual(Object.keys(msg.payload.statistics).sort(), ['categories_with_data', 'total_categories', 'total_size_bytes']);
        assert.equal(msg.export.export_id, msg.payload.export_id);
        assert.equal(msg.export.mode, 'full');
        const [only] = readExports(boat.layout.exportFilesDir);
        assertCompleteExport(only);
        assert.equal(only.file, msg.payload.export_file);
        assert.equal(only.json.data.boatlog.entry_count, msg.payload.categories.boatlog.entry_count);
        assert.equal(msg.payload.category_count, only.json.statistics.categories_with_data);
    });

    it('each collector shows its entry count in its status', async function () {
        await helper.load(NODES, boatFlow(boat));
        const statuses: any[] = [];
        helper.getNode('c1').on('call:status', (call: any) => statuses.push(call.args[0]));
        const out = nextMessage(helper.getNode('out'));
        helper.getNode('c0').receive({ payload: {} });
        await out;
        // The test runtime has no message catalogues: texts arrive as their keys (the smoke test checks the words).
        assert.deepEqual(
            statuses.map((s) => [s.fill, s.text]),
            [
                ['blue', 'collector.status.collecting'],
                ['green', 'collector.status.entries'],
            ],
        );
    });

    it('an export node alone collects all nine categories', async function () {
        await helper.load(NODES, [
            { id: 'boat', type: 'd3kos-config', root: boat.root, mediaDir: boat.mediaDir },
            { id: 'export', type: 'd3kos-export', boat: 'boat', wires: [['out']] },
            { id: 'out', type: 'helper' },
        ]);
        const out = nextMessage(helper.getNode('out'));
        helper.getNode('export').receive({ payload: { mode: 'incremental' } });
        const msg = await out;
        const [only] = readExports(boat.layout.exportFilesDir);
        assert.equal(only.json.mode, 'incremental');
        assert.ok(only.json.data.boatlog.entry_count > 0);
        assert.equal(msg.payload.statistics.categories_with_data, only.json.statistics.categories_with_data);
    });

    it('tier 0 is refused by the first collector through done(err), and nothing is written', async function () {
        const license = JSON.parse(fs.readFileSync(boat.layout.license, 'utf8'));
        fs.writeFileSync(boat.layout.license, JSON.stringify({ ...license, tier: 0 }));
        await helper.load(NODES, boatFlow(boat));
        let exported = false;
        helper.getNode('out').on('input', () => (exported = true));
        const refused = nextError(helper.getNode('c0'));
        const msg: any = { payload: {} };
        helper.getNode('c0').receive(msg);
        assert.equal((await refused).message, 'Export requires Tier 1 or higher');
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(exported, false);
        assert.deepEqual(fs.existsSync(boat.layout.exportFilesDir) ? fs.readdirSync(boat.layout.exportFilesDir) : [], []);
    });

    it('a redeploy while the export node is writing waits for the export to finish before the node stops', async function () {
        await helper.load(NODES, exportAlone(boat));
        // A boatlog writer holding its lock keeps the export busy for a few seconds of retries.
        const holder = await holdExclusiveLock(boat.layout.boatlogDb);
        try {
            helper.getNode('export').receive({ payload: { mode: 'full' } });
            await until('the export to be under way', () => partialsIn(boat.layout.exportFilesDir).length > 0);
            await helper.clearFlows();
            const exports = readExports(boat.layout.exportFilesDir);
            assert.equal(exports.length, 1, 'the export was finished before the node reported itself stopped');
            assertCompleteExport(exports[0]);
            assert.match(exports[0].json.data.boatlog.error, /locked by another program/);
            assert.deepEqual(partialsIn(boat.layout.exportFilesDir), []);
        } finally {
            await release(holder);
        }
    });

    it('a collector stopped in the middle of its category finishes it before it stops', async function () {
        await helper.load(NODES, [
            { id: 'boat', type: 'd3kos-config', root: boat.root, mediaDir: boat.mediaDir },
            { id: 'collect', type: 'd3kos-boatlog', boat: 'boat', wires: [['out']] },
            { id: 'out', type: 'helper' },
        ]);
        const collector = helper.getNode('collect');
        const holder = await holdExclusiveLock(boat.layout.boatlogDb);
        try {
            collector.receive({ payload: { mode: 'full' } });
            await until('the collector to be under way', () => partialsIn(boat.layout.exportFilesDir).length > 0);
            await helper.clearFlows();
            const statuses = callsOf(collector, 'status');
            assert.equal(statuses[statuses.length - 1].text, 'collector.status.withError', JSON.stringify(statuses));
        } finally {
            await release(holder);
        }
    });

    it('a tier 1 boat asking for an incremental export is refused with 403, and no file is written', async function () {
        const license = JSON.parse(fs.readFileSync(boat.layout.license, 'utf8'));
        fs.writeFileSync(boat.layout.license, JSON.stringify({ ...license, tier: 1 }));
        await helper.load(NODES, exportAlone(boat));
        const refused = nextError(helper.getNode('export'));
        const msg: any = { payload: { mode: 'incremental' } };
        helper.getNode('export').receive(msg);
        assert.equal((await refused).message, 'Incremental exports require Tier 2 or higher (this boat is Tier 1)');
        assert.equal(msg.statusCode, 403);
        assert.deepEqual(fs.existsSync(boat.layout.exportFilesDir) ? fs.readdirSync(boat.layout.exportFilesDir) : [], []);
    });

    it('a stale partial that cannot be removed at start-up is warned about and shown, and the node still exports', async function () {
        const blocking = path.join(boat.layout.exportFilesDir, '.export_20261122_030000_000_dead.json.partial');
        fs.mkdirSync(path.join(blocking, 'inside'), { recursive: true });
        const old = new Date(Date.now() - 3600_000);
        fs.utimesSync(blocking, old, old);
        await helper.load(NODES, exportAlone(boat));
        const node = helper.getNode('export');
        await until('the start-up warning', () => callsOf(node, 'warn').length > 0);
        assert.deepEqual(callsOf(node, 'warn'), ['export.warn.stalePartialsKept']);
        assert.deepEqual(
            callsOf(node, 'status').map((s) => [s.fill, s.text]),
            [['yellow', 'export.status.stalePartialsKept']],
        );
        const out = nextMessage(helper.getNode('out'));
        node.receive({ payload: { mode: 'full' } });
        assert.equal((await out).payload.success, true);
    });

    it('a damaged watermark file is warned about, and the incremental export still goes out carrying the warning', async function () {
        fs.mkdirSync(path.dirname(boat.layout.watermarksFile), { recursive: true });
        fs.writeFileSync(boat.layout.watermarksFile, 'not json at all');
        await helper.load(NODES, exportAlone(boat));
        const node = helper.getNode('export');
        const out = nextMessage(helper.getNode('out'));
        node.receive({ payload: { mode: 'incremental' } });
        const msg = await out;
        assert.equal(msg.payload.success, true);
        assert.equal(msg.payload.warnings.length, 1);
        assert.match(msg.payload.warnings[0], /watermarks were damaged/);
        assert.deepEqual(callsOf(node, 'warn'), msg.payload.warnings);
        const statuses = callsOf(node, 'status');
        assert.deepEqual([statuses[statuses.length - 1].fill, statuses[statuses.length - 1].text], ['yellow', 'export.status.doneWithWarning']);
        assert.ok(msg.payload.categories.boatlog.entry_count > 0);
    });

    it('a broken source turns its collector yellow and the export still completes', async function () {
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(boat.layout.capturesDb + suffix, { force: true });
        fs.writeFileSync(boat.layout.capturesDb, 'garbage'.repeat(1000));
        await helper.load(NODES, boatFlow(boat));
        const statuses: any[] = [];
        helper.getNode('c2').on('call:status', (call: any) => statuses.push(call.args[0]));
        const out = nextMessage(helper.getNode('out'));
        helper.getNode('c0').receive({ payload: {} });
        const msg = await out;
        assert.match(msg.payload.categories.marine_vision_captures.error, /captures\.db is damaged/);
        assert.ok(
            statuses.some((s) => s.fill === 'yellow'),
            JSON.stringify(statuses),
        );
    });
});
