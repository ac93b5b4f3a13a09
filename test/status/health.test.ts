import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { boatLayout } from '../../lib/boat/layout';
import { healthStatus } from '../../lib/status/boat-status';
import { packageVersion } from '../../lib/status/version';
import { DISK_CHECK_EVERY_MS } from '../../lib/status/disk-check';
import { overdueWork, trackWork } from '../../lib/status/problems';
import { scratchFolder, writeJson } from '../support/folders';
import { canMount, fillDisk, mountTinyDisk } from '../queue/exports';

/**
 * /health as soon as it tells what `wanted` looks for. The disk is asked at most every few seconds and
 * answered from memory in between, so a change shows a few seconds later; after 15 s the last answer is given.
 */
async function healthUntil(layout: ReturnType<typeof boatLayout>, wanted: (problems: string[]) => boolean) {
    let health = await healthStatus(layout);
    for (const started = Date.now(); !wanted(health.body.problems) && Date.now() - started < 3 * DISK_CHECK_EVERY_MS;) {
        await new Promise((r) => setTimeout(r, 200));
        health = await healthStatus(layout);
    }
    return health;
}

describe('/health: ok, or degraded with the reasons', function () {
    this.timeout(30000);
    let scratch: ReturnType<typeof scratchFolder>;

    beforeEach(() => (scratch = scratchFolder('health')));
    afterEach(() => scratch.remove());

    function boat(root: string) {
        const layout = boatLayout({ root, mediaDir: path.join(root, 'media') });
        writeJson(layout.license, { installation_id: 'd3c0de5eab0a7001', tier: 2 });
        return layout;
    }

    it('a good boat is ok, with an empty list of problems and the fields it always had', async () => {
        const health = await healthStatus(boat(path.join(scratch.dir, 'd3kos')));
        assert.equal(health.statusCode, 200);
        const { disks, ...rest } = health.body;
        assert.deepEqual(rest, { success: true, status: 'ok', service: 'd3kos-node-red-data', tier: 2, version: packageVersion(), problems: [], notices: [] });
        assert.match(String(rest.version), /^\d+\.\d+\.\d+/);
        assert.deepEqual(
            disks.map((d) => d.folder),
            ['data', 'backup', 'camera'],
        );
        for (const d of disks) assert.ok(typeof d.free_bytes === 'number' && d.free_bytes > 0 && d.level !== 'unknown', JSON.stringify(d));
    });

    it('an unreadable license.json is a critical notice with the one thing to do, and the problem text stays for scripts', async () => {
        const layout = boat(path.join(scratch.dir, 'd3kos'));
        fs.writeFileSync(layout.license, '{"installation_id": "d3c0de5eab0a7001", "tier": 2,');
        const health = await healthStatus(layout);
        assert.equal(health.statusCode, 503);
        assert.match(health.body.problems.join('\n'), /license\.json .*is not valid JSON/);
        assert.deepEqual(health.body.notices[0], {
            severity: 'critical',
            headline: 'This boat’s license cannot be read',
            action: 'Check license.json: it is not valid JSON. Restore it from a backup or ask your d3kOS dealer.',
        });
    });

    it('the exports disk full, then read-only, is named; freed, it is ok again', async function () {
        if (!canMount) this.skip();
        const root = path.join(scratch.dir, 'd3kos');
        const layout = boat(root);
        const unmount = mountTinyDisk(layout.exportsDir, '1m');
        try {
            const filler = fillDisk(layout.exportsDir);
            const full = await healthStatus(layout);
            assert.equal(full.body.status, 'degraded');
            assert.ok(
                full.body.problems.some((p) => /the disk holding data\/exports is full/.test(p)),
                full.body.problems.join('\n'),
            );
            fs.rmSync(filler);
            execFileSync('mount', ['-o', 'remount,ro', layout.exportsDir]);
            const readOnly = await healthUntil(layout, (problems) => problems.some((p) => /data\/exports cannot be written \(the disk is read-only\)/.test(p)));
            assert.ok(
                readOnly.body.problems.some((p) => /data\/exports cannot be written \(the disk is read-only\)/.test(p)),
                readOnly.body.problems.join('\n'),
            );
            assert.ok(!readOnly.body.problems.some((p) => /is full/.test(p)), readOnly.body.problems.join('\n'));
            execFileSync('mount', ['-o', 'remount,rw', layout.exportsDir]);
            assert.equal((await healthUntil(layout, (problems) => problems.length === 0)).body.status, 'ok');
        } finally {
            unmount();
        }
    });

    it('work running past its limit is named while it runs', async () => {
        const root = path.join(scratch.dir, 'd3kos');
        const layout = boat(root);
        const work = trackWork(layout.exportsDir, 'Collecting telemetry for export_x', 10, Date.now() - 1000);
        try {
            assert.match(overdueWork(root)[0].problem, /Collecting telemetry for export_x has been running for 1 s/);
            const health = await healthStatus(layout);
            assert.ok(health.body.problems.some((p) => /Collecting telemetry for export_x/.test(p)));
        } finally {
            work.done();
        }
        assert.deepEqual(overdueWork(root), []);
    });
});
