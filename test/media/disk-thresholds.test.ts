import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { checkDisk, cleanUpMedia, DEFAULT_POLICY } from '../../lib/media';
import { DAY_MS, fillTo, mountSmallDisk, usedBlocks, usedPercent, writeRecording } from './disk-fixture';

// An 8 MB disk of 2048 blocks holding 40 recordings of 40 blocks each (1600 blocks, all younger
// than a week, so age alone deletes nothing), topped up with a non-media file to the percentage
// under test. Recording i is i hours older than recording i+1: clip-00 is the oldest.

const RECORDINGS = 40;
const BLOCKS_EACH = 40;
const clip = (i: number) => `clip-${String(i).padStart(2, '0')}.mp4`;

describe('media cleanup at disk thresholds', () => {
    let disk: ReturnType<typeof mountSmallDisk>;
    let media: string;
    beforeEach(() => {
        disk = mountSmallDisk('media-disk', 8);
        media = path.join(disk.dir, 'camera-recordings');
        for (let i = 0; i < RECORDINGS; i++) {
            writeRecording(path.join(media, i % 2 ? 'captures' : '', clip(i)), BLOCKS_EACH, (RECORDINGS - i) * 3600_000 + DAY_MS);
        }
    });
    afterEach(() => disk?.unmount());

    const survivors = () => [...fs.readdirSync(media), ...fs.readdirSync(path.join(media, 'captures'))].filter((n) => n.endsWith('.mp4')).sort();
    const oldest = (n: number) => Array.from({ length: n }, (_, i) => clip(i));

    it('at 91 % the oldest recordings go, oldest first, until the disk is below 80 %, and no more', async () => {
        fillTo(disk.dir, 91);
        assert.ok(usedPercent(disk.dir) >= 91 && usedPercent(disk.dir) < 92, `the disk is filled to ${usedPercent(disk.dir)} %`);

        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY, trigger: 'disk-check' });

        assert.equal(report.level, 'warning');
        assert.equal(report.target_percent, 80);
        assert.ok(usedPercent(disk.dir) < 80, `usage ends at ${usedPercent(disk.dir)} %`);
        // 1864 used blocks; below 80 % means at most 1638: six recordings of 40 blocks, not five, not seven.
        const gone = oldest(6);
        assert.deepEqual(
            report.deleted.map((name) => path.basename(name)),
            gone,
        );
        assert.deepEqual(
            survivors(),
            Array.from({ length: RECORDINGS }, (_, i) => clip(i)).filter((name) => !gone.includes(name)),
        );
        assert.equal(report.deleted_for_space, 6);
        assert.equal(report.freed_bytes, 6 * BLOCKS_EACH * 4096);
        assert.ok(report.usage_before_percent >= 91 && report.usage_after_percent < 80);
        assert.equal(report.alert?.level, 'warning');
        assert.match(report.alert!.message, /nearly full: 91 % used\. Deleted 6 of the oldest recording/);
        assert.ok(fs.existsSync(path.join(disk.dir, 'other-data.bin')), 'the non-media file is never touched');
    });

    it('at 96 % a critical alert goes out and the oldest go until the disk is below 85 %', async () => {
        fillTo(disk.dir, 96);
        assert.ok(usedPercent(disk.dir) >= 96 && usedPercent(disk.dir) < 97);

        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY });

        assert.equal(report.level, 'critical');
        assert.equal(report.alert?.level, 'critical');
        assert.match(report.alert!.message, /critically full: 96(\.\d)? % used/);
        assert.ok(usedPercent(disk.dir) < 85, `usage ends at ${usedPercent(disk.dir)} %`);
        assert.ok(usedPercent(disk.dir) >= 80, 'a critical cleanup stops below 85 %, it does not go on to 80 %');
        assert.deepEqual(
            report.deleted.map((name) => path.basename(name)),
            oldest(report.deleted_count),
        );
    });

    it('old recordings go first by age; the threshold then takes only what is still needed', async () => {
        for (let i = 0; i < 3; i++) fs.utimesSync(path.join(media, i % 2 ? 'captures' : '', clip(i)), new Date(Date.now() - 9 * DAY_MS), new Date(Date.now() - 9 * DAY_MS));
        fillTo(disk.dir, 91);
        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY });
        assert.equal(report.deleted_by_age, 3);
        assert.equal(report.deleted_for_space, 3);
        assert.deepEqual(report.deleted.map((name) => path.basename(name)).sort(), oldest(6));
        assert.ok(usedPercent(disk.dir) < 80);
    });

    it('a dry run at 91 % lists the oldest that would go, estimates the usage after, and deletes nothing', async () => {
        fillTo(disk.dir, 91);
        const blocksBefore = usedBlocks(disk.dir);
        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY, dryRun: true });
        assert.deepEqual(
            report.deleted.map((name) => path.basename(name)),
            oldest(6),
        );
        assert.ok(report.usage_after_percent < 80 && report.usage_after_percent > 78, `estimated ${report.usage_after_percent} %`);
        assert.equal(usedBlocks(disk.dir), blocksBefore);
        assert.equal(survivors().length, RECORDINGS);
        assert.match(report.alert!.message, /A cleanup would delete 6 recording/);
    });

    it('recordings written in the last minute survive even a critically full disk', async () => {
        for (let i = 0; i < RECORDINGS; i++) {
            const file = path.join(media, i % 2 ? 'captures' : '', clip(i));
            fs.utimesSync(file, new Date(), new Date(Date.now() - 20_000));
        }
        fillTo(disk.dir, 96);
        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY });
        assert.equal(report.deleted_count, 0);
        assert.equal(report.kept_recent, RECORDINGS);
        assert.equal(survivors().length, RECORDINGS);
        assert.match(report.alert!.message, /Still not below 85 %/);
    });

    it('a disk filled by other files: nothing else is deleted and the alert says the cleanup could not help', async () => {
        for (const name of survivors()) fs.rmSync(path.join(media, fs.existsSync(path.join(media, name)) ? '' : 'captures', name));
        fillTo(disk.dir, 93, 'database-dump.sql');
        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY });
        assert.equal(report.deleted_count, 0);
        assert.ok(fs.existsSync(path.join(disk.dir, 'database-dump.sql')));
        assert.equal(report.alert?.level, 'warning');
        assert.match(report.alert!.message, /Still not below 80 %: other files fill this disk/);
    });

    it("the disk check is a statfs of the media folder's own disk and names its level", async () => {
        fillTo(disk.dir, 96);
        const check = await checkDisk(media, DEFAULT_POLICY);
        assert.equal(check.level, 'critical');
        assert.equal(check.disk.total_bytes, 8 * 1024 * 1024);
        assert.ok(check.disk.used_percent >= 96 && check.disk.used_percent < 97);
        assert.equal(survivors().length, RECORDINGS, 'a check deletes nothing');
    });
});
