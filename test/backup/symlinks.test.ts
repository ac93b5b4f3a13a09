import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, restoreBackup } from '../../lib/backup';
import { boatLayout } from '../../lib/boat/layout';
import { resolveSettings } from '../../lib/backup/options';
import { checkFolder, prepareFolder, targetOf } from '../../lib/backup/targets';
import { backupTestBoat, BackupTestBoat, craftedArchive } from './boat';

// A restore decides where a file goes from this boat's settings, then checks
// the folders on the disk: a folder that is a symbolic link leading out of
// its place is never written through (the safety backup skips links, so
// such a write could not be undone).

describe('a restore onto a boat whose folders are symbolic links', function () {
    this.timeout(30000);
    let t: BackupTestBoat;

    beforeEach(async () => {
        t = await backupTestBoat('backup-symlinks');
    });
    afterEach(() => t.scratch.remove());

    it('does not write through data/manuals linked to a folder outside the data root, and says so', async () => {
        const made = await createBackup(t.settings);
        const outside = path.join(t.scratch.dir, 'outside');
        fs.mkdirSync(outside);
        fs.rmSync(t.boat.layout.manualsDir, { recursive: true });
        fs.symlinkSync(outside, t.boat.layout.manualsDir);
        fs.writeFileSync(t.boat.layout.onboarding, '{"vessel_name": "changed"}');

        const report = await restoreBackup(t.settings, made.backup.name);
        assert.deepEqual(fs.readdirSync(outside), [], 'a restored file was written outside the data root');
        const refused = report.not_restored.filter((n) => n.path.startsWith('data/manuals/'));
        assert.deepEqual(refused.map((n) => n.path).sort(), ['data/manuals/engine-manual.txt', 'data/manuals/watermaker.txt']);
        for (const item of refused) assert.match(item.reason, /data\/manuals on this boat leads outside .* \(to .*outside\); nothing was written through it/);
        assert.match(report.message, /2 file\(s\) of the backup were not restored/);
        // Everything else is restored as usual.
        assert.equal(JSON.parse(fs.readFileSync(t.boat.layout.onboarding, 'utf8')).vessel_name, 'Demo Boat');
        assert.ok(fs.lstatSync(t.boat.layout.manualsDir).isSymbolicLink(), 'the link itself was replaced');
    });

    it('creates nothing at the far end of a link to a folder that does not exist', async () => {
        const nowhere = path.join(t.scratch.dir, 'not-yet');
        const name = craftedArchive(t, [{ path: 'data/charts/deep/harbour.json', content: '{"depth": 4}' }]);
        fs.symlinkSync(nowhere, path.join(t.boat.root, 'data', 'charts'));
        const report = await restoreBackup(t.settings, name);
        assert.ok(!fs.existsSync(nowhere), 'the restore made folders outside the data root');
        assert.deepEqual(report.not_restored, [
            { path: 'data/charts/deep/harbour.json', reason: `the folder ${path.join(t.boat.root, 'data', 'charts')} on this boat is a symbolic link to a place that does not exist` },
        ]);
        assert.deepEqual(report.files_changed, []);
    });

    it("does not write through a Signal K plugin folder linked outside Signal K's plugin folder", async () => {
        const outside = path.join(t.scratch.dir, 'elsewhere');
        fs.mkdirSync(outside);
        const name = craftedArchive(t, [{ path: 'signalk/plugin-config-data/charts/settings.json', content: '{"planted": true}' }]);
        fs.symlinkSync(outside, path.join(t.signalkPluginConfig, 'charts'));
        const report = await restoreBackup(t.settings, name);
        assert.deepEqual(fs.readdirSync(outside), []);
        assert.equal(report.not_restored.length, 1);
        assert.match(report.not_restored[0].reason, /leads outside .*plugin-config-data/);
    });

    it('does not write through a folder linked into the exports folder', async () => {
        fs.mkdirSync(t.boat.layout.exportsDir, { recursive: true });
        fs.symlinkSync(t.boat.layout.exportsDir, path.join(t.boat.root, 'data', 'inbox'));
        const name = craftedArchive(t, [{ path: 'data/inbox/export_queue.json', content: '{"version":1,"entries":[]}' }]);
        const report = await restoreBackup(t.settings, name);
        assert.ok(!fs.existsSync(t.boat.layout.queueFile));
        assert.match(report.not_restored[0]?.reason ?? '', /leads into the exports folder/);
    });

    it('a link put in place after the first check is caught again as the folders are made, and nothing is made through it', async () => {
        const s = resolveSettings(t.settings);
        const where = targetOf('data/charts/deep/harbour.json', s);
        assert.ok(!('reason' in where));
        assert.equal(await checkFolder(where, s), null, 'nothing is in the way yet');
        // Between the check and the swap, data/charts becomes a link out.
        const outside = path.join(t.scratch.dir, 'outside-later');
        fs.symlinkSync(outside, path.join(t.boat.root, 'data', 'charts'));
        const ready = await prepareFolder(where, s);
        assert.ok('reason' in ready && /symbolic link to a place that does not exist/.test(ready.reason), JSON.stringify(ready));
        assert.ok(!fs.existsSync(outside), 'a folder was made at the far end of the link');
        fs.mkdirSync(outside);
        const again = await prepareFolder(where, s);
        assert.ok('reason' in again && /leads outside/.test(again.reason), JSON.stringify(again));
        assert.deepEqual(fs.readdirSync(outside), [], 'a folder was made through the link');
    });

    it('a data root that is itself a link (to a bigger disk) is restored as usual, and links inside it are followed', async () => {
        // The boat's root seen through a link, as /opt/d3kos -> /mnt/ssd/d3kos would be.
        const linkedRoot = path.join(t.scratch.dir, 'opt-d3kos');
        fs.symlinkSync(t.boat.root, linkedRoot);
        const layout = { ...boatLayout({ root: linkedRoot, mediaDir: t.boat.mediaDir, backupDir: t.boat.backupDir }) };
        const settings = { ...t.settings, layout };
        const made = await createBackup(settings);
        // A folder moved within the data root and linked back: still inside, so written.
        const moved = path.join(t.boat.root, 'data', 'manuals-on-ssd');
        fs.renameSync(t.boat.layout.manualsDir, moved);
        fs.symlinkSync(moved, t.boat.layout.manualsDir);
        fs.writeFileSync(path.join(moved, 'engine-manual.txt'), 'changed');

        const report = await restoreBackup(settings, made.backup.name);
        assert.deepEqual(report.not_restored, []);
        // Databases are always swapped in; of the plain files, only the changed manual.
        assert.deepEqual(
            report.files_changed.filter((p) => !p.endsWith('.db')),
            ['data/manuals/engine-manual.txt'],
        );
        assert.equal(fs.readFileSync(path.join(moved, 'engine-manual.txt'), 'utf8'), 'Volvo Penta D2-40 operator notes (demo).\n');
        assert.ok(fs.lstatSync(t.boat.layout.manualsDir).isSymbolicLink());
    });
});
