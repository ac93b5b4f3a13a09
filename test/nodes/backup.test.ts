import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { execFileSync } from 'child_process';
import express from 'express';
import sinon from 'sinon';
import { helper, nextError, nextMessage } from '../support/node-red';
import { backupTestBoat, BackupTestBoat } from '../backup/boat';
import { DEFAULT_FLOWS_FILE, DEFAULT_SIGNALK_PLUGIN_CONFIG, DEFAULT_SIGNALK_SETTINGS } from '../../lib/backup';
import configNode = require('../../nodes/config/config');
import backupNode = require('../../nodes/backup/backup');

function flow(t: BackupTestBoat, backup: Record<string, unknown> = {}) {
    return [
        { id: 'boat', type: 'd3kos-config', root: t.boat.root, mediaDir: t.boat.mediaDir, backupDir: t.boat.backupDir },
        {
            id: 'backup',
            type: 'd3kos-backup',
            boat: 'boat',
            keep: 10,
            schedule: 'off',
            requireMount: 'no',
            flowsFile: t.flowsFile,
            signalkSettings: t.signalkSettings,
            signalkPluginConfig: t.signalkPluginConfig,
            wires: [['result'], ['alert']],
            ...backup,
        },
        { id: 'result', type: 'helper' },
        { id: 'alert', type: 'helper' },
    ];
}

/**
 * The boat's clock stopped at 01:59:59 (timers stay real): the node's cron
 * job, once started, waits one real second for 02:00.
 */
function oneSecondBefore2am(): sinon.SinonFakeTimers {
    return sinon.useFakeTimers({ now: new Date(2026, 10, 22, 1, 59, 59, 0), toFake: ['Date'] });
}

/** Lets the node start its job at 01:59:59, then moves the clock to 02:00 for when the job's timer fires. */
async function reach2am(clock: sinon.SinonFakeTimers): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 200));
    clock.tick(1000);
}

async function ask(action: string, payload: unknown = {}, extra: Record<string, unknown> = {}): Promise<any> {
    const answer = nextMessage(helper.getNode('result'), 20000);
    helper.getNode('backup').receive({ action, payload, ...extra });
    return (await answer).payload;
}

describe('backup node', function () {
    this.timeout(30000);
    let t: BackupTestBoat;
    let clock: sinon.SinonFakeTimers | null = null;

    beforeEach(async () => {
        t = await backupTestBoat('backup-node');
    });
    afterEach(async () => {
        await helper.unload();
        clock?.restore();
        clock = null;
        t.scratch.remove();
    });

    it('creates a backup, lists it with the schedule, and shows it in its status', async () => {
        await helper.load([configNode, backupNode], flow(t));
        const statuses: any[] = [];
        helper.getNode('backup').on('call:status', (call: any) => statuses.push(call.args[0]));
        const made = await ask('create');
        assert.equal(made.success, true);
        assert.match(made.backup.name, /^d3kos_backup_\d{8}_\d{6}\.tar\.gz$/);
        assert.ok(made.backup.file_count > 10);
        assert.ok(fs.existsSync(path.join(t.boat.backupDir, made.backup.name)));

        const listed = await ask('list');
        assert.equal(listed.count, 1);
        assert.equal(listed.schedule, 'off');
        assert.deepEqual(listed.last_backup, { name: made.backup.name, created_at: made.backup.created_at.replace(/\.\d{3}Z$/, '.000Z'), size_bytes: made.backup.size_bytes });
        assert.deepEqual(Object.keys(listed.backups[0]).sort(), ['created_at', 'drill', 'encrypted', 'has_checksum', 'kind', 'name', 'pre_restore', 'size_bytes']);
        assert.equal(listed.backups[0].drill, null, 'not drilled yet');
        assert.equal(listed.newest_proven_at, null);
        assert.deepEqual(
            statuses.slice(-1).map((s) => s.fill),
            ['green'],
        );
    });

    it('restores a backup named in the payload and says which services to restart', async () => {
        await helper.load([configNode, backupNode], flow(t));
        const made = await ask('create');
        fs.writeFileSync(t.boat.layout.onboarding, '{"vessel_name": "changed"}');
        const report = await ask('restore', { name: made.backup.name, keep_installation_id: true });
        assert.equal(report.success, true);
        assert.equal(report.restored, made.backup.name);
        assert.match(report.safety_backup, /_pre-restore\.tar\.gz$/);
        assert.ok(report.restart_required.includes('dashboard'), report.restart_required.join());
        assert.equal(typeof report.message, 'string');
        assert.equal(JSON.parse(fs.readFileSync(t.boat.layout.onboarding, 'utf8')).vessel_name, 'Demo Boat');
    });

    it('a restore answers its window and leaves the safety backup to a prune of keep 1; verify refuses a symbolic link', async () => {
        await helper.load([configNode, backupNode], flow(t, { keep: 1 }));
        const made = await ask('create');
        const report = await ask('restore', { name: made.backup.name });
        assert.ok(Date.parse(report.restore_started_at) <= Date.parse(report.restore_finished_at), JSON.stringify(report));
        assert.match(report.restore_window, new RegExp(`are in ${report.safety_backup}`));
        await ask('create');
        await ask('create');
        const listed = await ask('list');
        assert.deepEqual(listed.backups.map((b: any) => b.kind).sort(), ['backup', 'safety']);
        fs.symlinkSync(path.join(t.boat.backupDir, report.safety_backup), path.join(t.boat.backupDir, 'd3kos_backup_20260101_000000.tar.gz'));
        const refused = nextError(helper.getNode('backup'), 20000);
        helper.getNode('backup').receive({ action: 'verify', payload: { name: 'd3kos_backup_20260101_000000.tar.gz' } });
        assert.match((await refused).message, /is a symbolic link/);
    });

    it('empty Signal K and flows fields mean the d3kOS defaults; the word none leaves each out', async () => {
        const skippedItem = (made: any, item: string) => made.skipped.find((s: any) => s.item === item);
        await helper.load([configNode, backupNode], flow(t, { flowsFile: '', signalkSettings: ' ', signalkPluginConfig: '' }));
        const defaults = await ask('create');
        for (const [item, file] of [
            ['Signal K settings', DEFAULT_SIGNALK_SETTINGS],
            ['Signal K plugin settings', DEFAULT_SIGNALK_PLUGIN_CONFIG],
            ['Node-RED flows', DEFAULT_FLOWS_FILE],
        ]) {
            // The default place is looked at: found there, or reported as not found there, never "not configured".
            const skipped = skippedItem(defaults, item);
            if (fs.existsSync(file)) assert.equal(skipped, undefined, `${item} at ${file} was left out`);
            else assert.deepEqual(skipped, { item, path: file, reason: 'not found' });
        }
        await helper.unload();

        await helper.load([configNode, backupNode], flow(t, { flowsFile: 'none', signalkSettings: 'None', signalkPluginConfig: ' none ' }));
        const leftOut = await ask('create');
        for (const item of ['Signal K settings', 'Signal K plugin settings', 'Node-RED flows']) {
            assert.deepEqual(skippedItem(leftOut, item), { item, path: '', reason: 'not configured' });
        }
        const listing = execFileSync('tar', ['-tzf', leftOut.backup.path], { encoding: 'utf8' });
        assert.ok(!/^(node-red|signalk)\//m.test(listing), listing);
    });

    it('remembers the schedule chosen across a redeploy', async () => {
        await helper.load([configNode, backupNode], flow(t));
        const chosen = await ask('schedule', { schedule: 'weekly' });
        assert.equal(chosen.success, true);
        assert.equal(chosen.schedule, 'weekly');
        assert.equal(new Date(chosen.next_run).getDay(), 0);
        await helper.unload();

        await helper.load([configNode, backupNode], flow(t, { schedule: 'off' }));
        assert.equal((await ask('list')).schedule, 'weekly');
        assert.equal((await ask('schedule', 'off')).schedule, 'off');
    });

    it('a bad request is an error through done(err) with a 4xx status, never a silent pass', async () => {
        await helper.load([configNode, backupNode], flow(t));
        const backup = helper.getNode('backup');
        const cases: Array<[Record<string, unknown>, number, RegExp]> = [
            [{ action: 'explode' }, 400, /does not know the action "explode"/],
            [{ action: 'schedule', payload: { schedule: 'hourly' } }, 400, /"off", "daily" or "weekly"/],
            [{ action: 'restore', payload: { name: 'd3kos_backup_20990101_000000.tar.gz' } }, 404, /was not found/],
            [{ action: 'restore', payload: { name: '/etc/passwd' } }, 400, /not a backup/],
        ];
        for (const [msg, statusCode, message] of cases) {
            const failed = nextError(backup);
            backup.receive(msg);
            assert.match((await failed).message, message);
            assert.equal((msg as any).statusCode, statusCode);
        }
    });

    it('an automatic backup runs at 02:00 and goes out on the first output', async () => {
        clock = oneSecondBefore2am();
        await helper.load([configNode, backupNode], flow(t, { schedule: 'daily' }));
        await reach2am(clock);
        const msg = await nextMessage(helper.getNode('result'), 15000);
        assert.equal(msg.automatic, true);
        assert.equal(msg.payload.success, true);
        assert.equal(fs.readdirSync(t.boat.backupDir).filter((f) => f.endsWith('.tar.gz')).length, 1);
    });

    it('an automatic backup that fails (USB drive absent) turns the status red and raises an alert', async () => {
        clock = oneSecondBefore2am();
        await helper.load([configNode, backupNode], flow(t, { schedule: 'daily', backupDir: '/media/d3kos-absent-usb/backups', requireMount: 'auto' }));
        const statuses: any[] = [];
        helper.getNode('backup').on('call:status', (call: any) => statuses.push(call.args[0]));
        await reach2am(clock);
        const alert = await nextMessage(helper.getNode('alert'), 15000);
        assert.equal(alert.payload.level, 'critical');
        assert.equal(alert.payload.error_code, 'BACKUP_DRIVE_MISSING');
        assert.match(alert.payload.reason, /drive \/media\/d3kos-absent-usb is not mounted/);
        assert.equal(statuses.at(-1).fill, 'red');
        assert.ok(!fs.existsSync('/media/d3kos-absent-usb'), "the missing drive's folder was created on the system disk");
    });

    it('streams a download into the HTTP answer, byte for byte', async () => {
        await helper.load([configNode, backupNode], flow(t));
        const made = await ask('create');
        const app = express();
        app.get('/api/backup/download/:name', (req, res) => helper.getNode('backup').receive({ action: 'download', req: { params: req.params }, res: { _res: res } }));
        const server = http.createServer(app).listen(0, '127.0.0.1');
        await new Promise((resolve) => server.once('listening', resolve));
        try {
            const port = (server.address() as any).port;
            const answer = await new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
                http.get(`http://127.0.0.1:${port}/api/backup/download/${made.backup.name}`, (res) => {
                    const chunks: Buffer[] = [];
                    res.on('data', (c) => chunks.push(c));
                    res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
                }).on('error', reject);
            });
            assert.equal(answer.headers['content-disposition'], `attachment; filename="${made.backup.name}"`);
            assert.ok(answer.body.equals(fs.readFileSync(made.backup.backup?.path ?? path.join(t.boat.backupDir, made.backup.name))));
        } finally {
            server.close();
        }
    });

    it('waits for a backup in flight before it closes', async () => {
        await helper.load([configNode, backupNode], flow(t));
        helper.getNode('backup').receive({ action: 'create' });
        await new Promise((resolve) => setTimeout(resolve, 5));
        await helper.unload();
        const names = fs.readdirSync(t.boat.backupDir);
        assert.equal(names.filter((n) => n.endsWith('.tar.gz')).length, 1, names.join());
        assert.ok(!names.some((n) => n.startsWith('.')), `leftovers: ${names.join()}`);
    });
});
