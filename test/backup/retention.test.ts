import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { createBackup, listBackups, pruneOldBackups, restoreBackup } from '../../lib/backup';
import { backupName, parseBackupName } from '../../lib/backup/names';
import { backupsToPrune, SAFETY_KEEP, SAFETY_MIN_AGE_DAYS } from '../../lib/backup/retention';
import { backupTestBoat, BackupTestBoat } from './boat';

const DAY = 24 * 60 * 60 * 1000;

describe('safety backups have their own retention', function () {
    this.timeout(60000);

    describe('the rule', () => {
        const now = new Date('2026-12-01T12:00:00Z');
        const at = (daysAgo: number, safety = false) => parseBackupName(backupName(new Date(now.getTime() - daysAgo * DAY), 1, safety))!;

        it('keep-N counts ordinary backups only: no safety backup is removed by it', () => {
            const all = [at(40, true), at(39), at(38), at(37), at(36, true), at(2), at(1)].sort((a, b) => a.created.getTime() - b.created.getTime());
            assert.deepEqual(
                backupsToPrune(all, 2, now).map((b) => b.name),
                [at(39).name, at(38).name, at(37).name],
            );
        });

        it(`the newest ${SAFETY_KEEP} safety backups stay whatever their age, and none younger than ${SAFETY_MIN_AGE_DAYS} days goes`, () => {
            const old = [at(90, true), at(80, true), at(70, true), at(60, true), at(50, true)];
            assert.deepEqual(
                backupsToPrune(old, 10, now).map((b) => b.name),
                [at(90, true).name, at(80, true).name],
            );
            const young = [1, 2, 3, 4, 5, 6, 7, 8].map((d) => at(d, true)).reverse();
            assert.deepEqual(backupsToPrune(young, 1, now), []);
        });
    });

    describe('on a boat', () => {
        let t: BackupTestBoat;
        beforeEach(async () => {
            t = await backupTestBoat('backup-retention');
        });
        afterEach(() => t.scratch.remove());

        it('ten backups after a restore leave its safety backup in place, so the restore can still be undone', async () => {
            const first = await createBackup({ ...t.settings, keep: 3 });
            const report = await restoreBackup({ ...t.settings, keep: 3 }, first.backup.name);
            const pruned: string[] = [];
            for (let i = 0; i < 10; i++) pruned.push(...(await createBackup({ ...t.settings, keep: 3 })).pruned);
            assert.ok(pruned.includes(first.backup.name), 'keep-N pruned nothing');
            assert.ok(!pruned.includes(report.safety_backup), 'the safety backup was pruned');
            assert.ok(fs.existsSync(path.join(t.boat.backupDir, report.safety_backup)));
            const listed = await listBackups({ ...t.settings, keep: 3 });
            assert.equal(listed.backups.filter((b) => b.kind === 'backup').length, 3);
            assert.deepEqual(
                listed.backups.filter((b) => b.kind === 'safety').map((b) => [b.name, b.pre_restore]),
                [[report.safety_backup, true]],
            );
            assert.deepEqual(listed.retention, { keep: 3, safety_keep: SAFETY_KEEP, safety_min_age_days: SAFETY_MIN_AGE_DAYS });
            // Undo still works.
            const undo = await restoreBackup(t.settings, report.safety_backup);
            assert.equal(undo.restored, report.safety_backup);
        });

        it('prune with keep 1 removes ordinary backups but no young safety backup', async () => {
            const made = await createBackup(t.settings);
            const report = await restoreBackup(t.settings, made.backup.name);
            await createBackup(t.settings);
            const pruned = await pruneOldBackups(t.settings, 1);
            assert.ok(!pruned.removed.includes(report.safety_backup));
            assert.ok(pruned.removed.includes(made.backup.name));
        });
    });
});
