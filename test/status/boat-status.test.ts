import assert from 'node:assert/strict';
import { promises as fs } from 'fs';
import * as path from 'path';
import { boatLayout } from '../../lib/boat/layout';
import { healthStatus, listExportFiles, tierStatus } from '../../lib/status/boat-status';
import { announceNextRun, formatRunTime } from '../../lib/status/next-runs';
import { scratchFolder, writeJson } from '../support/folders';

describe('boat status reports', () => {
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof boatLayout>;
    beforeEach(() => {
        scratch = scratchFolder('status');
        layout = boatLayout({ root: scratch.dir });
    });
    afterEach(() => scratch.remove());

    const license = (value: unknown) => writeJson(layout.license, value);

    it('the tier report says what the tier allows and leaves billing internals out', async () => {
        license({ installation_id: '0123456789abcdef', tier: 2, subscription_status: 'active', stripe_customer: 'cus_secret', features: { api_key: 'k' } });
        const report = await tierStatus(layout);
        assert.deepEqual(report, {
            success: true,
            tier: 2,
            installation_id: '0123456789abcdef',
            can_export: true,
            scheduled_export: true,
            subscription_status: 'active',
            allows: 'a daily automatic export at 03:00',
            next_scheduled_export: null,
        });
    });

    it('the tier report tells the next run of the daily export schedule, as its node announced it', async () => {
        license({ installation_id: '0123456789abcdef', tier: 2 });
        const at = new Date('2026-12-08T03:00:00Z');
        announceNextRun(layout.root, 'daily-export', at);
        try {
            assert.equal((await tierStatus(layout)).next_scheduled_export, at.toISOString());
            announceNextRun(path.join(layout.root, 'other-boat'), 'daily-export', new Date());
            assert.equal((await tierStatus(layout)).next_scheduled_export, at.toISOString(), "another boat's schedule is not this boat's");
        } finally {
            announceNextRun(layout.root, 'daily-export', null);
        }
        assert.equal((await tierStatus(layout)).next_scheduled_export, null);
    });

    it('schedule dates read one way only: "Tue 8 Dec 03:00", never 08/12', () => {
        assert.equal(formatRunTime(new Date('2026-12-08T03:00:00Z'), 'UTC'), 'Tue 8 Dec 03:00');
        assert.equal(formatRunTime(new Date('2026-08-12T15:05:00Z'), 'UTC'), 'Wed 12 Aug 15:05');
    });

    it('tier 0 cannot export', async () => {
        license({ installation_id: '0123456789abcdef', tier: 0 });
        const report = await tierStatus(layout);
        assert.equal(report.can_export, false);
        assert.equal(report.scheduled_export, false);
    });

    it('a damaged license is an error, never a guessed tier', async () => {
        license('{"tier": 1');
        await assert.rejects(tierStatus(layout), /not valid JSON/);
    });

    it('the export list shows finished files newest first, with size and time, and skips partial files', async () => {
        await fs.mkdir(layout.exportFilesDir, { recursive: true });
        await fs.writeFile(path.join(layout.exportFilesDir, 'export_20261101_030000_000_ab12.json'), '{"a":1}');
        await fs.writeFile(path.join(layout.exportFilesDir, 'export_20261102_030000_000_cd34.json'), '{"a":12}');
        await fs.writeFile(path.join(layout.exportFilesDir, '.export_20261103_030000_000_ef56.json.partial'), '{');
        await fs.writeFile(path.join(layout.exportFilesDir, 'notes.txt'), 'x');
        const list = await listExportFiles(layout);
        assert.equal(list.count, 2);
        assert.deepEqual(
            list.exports.map((e) => [e.filename, e.size]),
            [
                ['export_20261102_030000_000_cd34.json', 8],
                ['export_20261101_030000_000_ab12.json', 7],
            ],
        );
        assert.ok(!Number.isNaN(Date.parse(list.exports[0].created)));
    });

    it('no exports folder yet is an empty list, not an error', async () => {
        assert.deepEqual(await listExportFiles(layout), { success: true, count: 0, exports: [] });
    });

    it('health is ok with a readable root and license, and 503 degraded naming the problem otherwise', async () => {
        license({ installation_id: '0123456789abcdef', tier: 1 });
        assert.equal((await healthStatus(layout)).statusCode, 200);
        await fs.rm(layout.license);
        // /health reads the license at most once a second (from memory in between, so a poll never queues on
        // libuv's threads): the change shows within a second or two.
        let degraded = await healthStatus(layout);
        for (const started = Date.now(); degraded.statusCode === 200 && Date.now() - started < 5000;) {
            await new Promise((r) => setTimeout(r, 100));
            degraded = await healthStatus(layout);
        }
        assert.equal(degraded.statusCode, 503);
        assert.equal(degraded.body.status, 'degraded');
        assert.match(degraded.body.error!, /license.json was not found/);
    });
});
