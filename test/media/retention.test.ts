import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { cleanUpMedia, DEFAULT_POLICY, mediaStatus, resolvePolicy } from '../../lib/media';
import { removeRecordings } from '../../lib/media/remove';
import { scanMedia } from '../../lib/media/scan';
import { scratchFolder } from '../support/folders';
import { DAY_MS, mountSmallDisk, writeRecording } from './disk-fixture';

describe('media retention by age', () => {
    let disk: ReturnType<typeof mountSmallDisk>;
    let outside: ReturnType<typeof scratchFolder>;
    let media: string;
    before(() => (disk = mountSmallDisk('media-age', 16)));
    after(() => disk?.unmount());
    beforeEach(() => {
        media = path.join(disk.dir, 'camera-recordings');
        fs.rmSync(media, { recursive: true, force: true });
        fs.mkdirSync(media);
        outside = scratchFolder('media-outside');
    });
    afterEach(() => outside.remove());

    const exists = (rel: string) => fs.existsSync(path.join(media, rel));
    const sorted = (names: string[]) => [...names].sort();

    it('removes exactly the recordings older than the maximum age, captures/ included', async () => {
        writeRecording(path.join(media, 'old-clip.mp4'), 1, 8 * DAY_MS);
        writeRecording(path.join(media, 'captures', 'old-snap.jpg'), 1, 10 * DAY_MS);
        writeRecording(path.join(media, 'captures', 'OLD-UPPER.JPG'), 1, 9 * DAY_MS);
        writeRecording(path.join(media, 'week-minus-an-hour.mp4'), 1, 7 * DAY_MS - 3600_000);
        writeRecording(path.join(media, 'captures', 'yesterday.jpg'), 1, DAY_MS);

        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY });

        assert.deepEqual(sorted(report.deleted), ['captures/OLD-UPPER.JPG', 'captures/old-snap.jpg', 'old-clip.mp4']);
        assert.equal(report.deleted_count, 3);
        assert.equal(report.deleted_by_age, 3);
        assert.equal(report.freed_bytes, 3 * 4096);
        assert.ok(!exists('old-clip.mp4') && !exists('captures/old-snap.jpg') && !exists('captures/OLD-UPPER.JPG'));
        assert.ok(exists('week-minus-an-hour.mp4') && exists('captures/yesterday.jpg'));
        assert.equal(report.level, 'ok');
        assert.equal(report.alert, null);
    });

    it('a shorter maximum age takes more: 3 days removes a 4-day-old clip that 7 days keeps', async () => {
        writeRecording(path.join(media, 'four-days.mp4'), 1, 4 * DAY_MS);
        const week = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY });
        assert.equal(week.deleted_count, 0);
        const threeDays = await cleanUpMedia({ mediaDir: media, policy: resolvePolicy({ maxAgeDays: 3 }) });
        assert.deepEqual(threeDays.deleted, ['four-days.mp4']);
    });

    it('a link to a folder outside, a linked file, other files and recordings being written all survive', async () => {
        writeRecording(path.join(outside.dir, 'elsewhere', 'precious.mp4'), 1, 30 * DAY_MS);
        writeRecording(path.join(outside.dir, 'single.jpg'), 1, 30 * DAY_MS);
        fs.symlinkSync(path.join(outside.dir, 'elsewhere'), path.join(media, 'linked-folder'));
        fs.symlinkSync(path.join(outside.dir, 'single.jpg'), path.join(media, 'linked-file.jpg'));
        const longAgo = new Date(Date.now() - 30 * DAY_MS);
        fs.lutimesSync(path.join(media, 'linked-file.jpg'), longAgo, longAgo);
        writeRecording(path.join(media, 'notes.txt'), 1, 30 * DAY_MS);
        writeRecording(path.join(media, 'captures', 'index.db'), 1, 30 * DAY_MS);
        writeRecording(path.join(media, 'clip.mp4.part'), 1, 30 * DAY_MS);
        fs.mkdirSync(path.join(media, 'folder-named.mp4'));
        writeRecording(path.join(media, 'recording-now.mp4'), 1, 10 * 1000);
        writeRecording(path.join(media, 'old.mp4'), 1, 30 * DAY_MS);

        const report = await cleanUpMedia({ mediaDir: media, policy: resolvePolicy({ maxAgeDays: 3 }) });

        assert.deepEqual(report.deleted, ['old.mp4']);
        assert.ok(fs.existsSync(path.join(outside.dir, 'elsewhere', 'precious.mp4')), 'a recording behind a linked folder survives');
        assert.ok(fs.existsSync(path.join(outside.dir, 'single.jpg')), 'the target of a linked file survives');
        assert.ok(fs.lstatSync(path.join(media, 'linked-file.jpg')).isSymbolicLink(), 'the link itself stays');
        for (const other of ['notes.txt', 'captures/index.db', 'clip.mp4.part', 'folder-named.mp4', 'recording-now.mp4']) assert.ok(exists(other), `${other} survives`);
        assert.equal(report.skipped_links, 2);
        assert.equal(report.kept_recent, 1);
    });

    it('a folder swapped for a link between the scan and the delete is not followed', async () => {
        writeRecording(path.join(media, 'day1', 'clip.mp4'), 1, 30 * DAY_MS);
        const scan = await scanMedia(media, { extensions: ['.mp4'], keepFiles: true });
        assert.deepEqual([scan.files.name(0)], ['day1/clip.mp4']);
        writeRecording(path.join(outside.dir, 'day1', 'clip.mp4'), 1, 30 * DAY_MS);
        fs.rmSync(path.join(media, 'day1'), { recursive: true });
        fs.symlinkSync(path.join(outside.dir, 'day1'), path.join(media, 'day1'));

        const removed = await removeRecordings(scan, [0], { now: Date.now });

        assert.deepEqual(removed.removed, []);
        assert.equal(removed.spared, 1);
        assert.ok(fs.existsSync(path.join(outside.dir, 'day1', 'clip.mp4')));
    });

    it('a media folder that is itself a link (to a USB drive) is cleaned where it points', async () => {
        const real = path.join(disk.dir, 'usb-recordings');
        fs.mkdirSync(real, { recursive: true });
        writeRecording(path.join(real, 'old.jpg'), 1, 30 * DAY_MS);
        const linked = path.join(disk.dir, 'recordings-link');
        fs.rmSync(linked, { force: true });
        fs.symlinkSync(real, linked);

        const report = await cleanUpMedia({ mediaDir: linked, policy: DEFAULT_POLICY });

        assert.deepEqual(report.deleted, ['old.jpg']);
        assert.ok(!fs.existsSync(path.join(real, 'old.jpg')));
    });

    it('a dry run lists what would go and deletes nothing', async () => {
        writeRecording(path.join(media, 'old-a.mp4'), 2, 20 * DAY_MS);
        writeRecording(path.join(media, 'captures', 'old-b.jpg'), 1, 9 * DAY_MS);
        writeRecording(path.join(media, 'new.jpg'), 1, DAY_MS);

        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY, dryRun: true });

        assert.equal(report.dry_run, true);
        assert.deepEqual(sorted(report.deleted), ['captures/old-b.jpg', 'old-a.mp4']);
        assert.equal(report.freed_bytes, 3 * 4096);
        assert.ok(exists('old-a.mp4') && exists('captures/old-b.jpg') && exists('new.jpg'), 'every file is still there');
    });

    it('other file types can be configured, and only those are touched', async () => {
        writeRecording(path.join(media, 'old.h264'), 1, 30 * DAY_MS);
        writeRecording(path.join(media, 'old.mp4'), 1, 30 * DAY_MS);
        const report = await cleanUpMedia({ mediaDir: media, policy: resolvePolicy({ extensions: 'h264' }) });
        assert.deepEqual(report.deleted, ['old.h264']);
        assert.ok(exists('old.mp4'));
    });

    it('the list of deleted names is capped, the count is not', async () => {
        for (let i = 0; i < 12; i++) writeRecording(path.join(media, `old-${i}.jpg`), 0, 30 * DAY_MS);
        const report = await cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY, listLimit: 5 });
        assert.equal(report.deleted_count, 12);
        assert.equal(report.deleted.length, 5);
        assert.equal(report.deleted_not_listed, 7);
    });

    it('a missing media folder is a clear answer: nothing deleted, the disk still measured', async () => {
        const missing = path.join(disk.dir, 'no-camera-yet');
        const report = await cleanUpMedia({ mediaDir: missing, policy: DEFAULT_POLICY });
        assert.equal(report.media_dir_exists, false);
        assert.equal(report.deleted_count, 0);
        assert.ok(report.disk_before.total_bytes > 0);
        const status = await mediaStatus(missing, DEFAULT_POLICY);
        assert.equal(status.media_dir_exists, false);
        assert.equal(status.media_files, 0);
        assert.equal(status.level, 'ok');
    });

    it('a media folder that is a file is refused with a message naming it', async () => {
        const file = path.join(disk.dir, 'not-a-folder');
        fs.writeFileSync(file, 'x');
        await assert.rejects(cleanUpMedia({ mediaDir: file, policy: DEFAULT_POLICY }), (err: any) => {
            assert.equal(err.code, 'MEDIA_DIR_NOT_FOLDER');
            assert.match(err.message, /not-a-folder is a file, not a folder/);
            return true;
        });
    });

    it('the status counts recordings and their bytes, not links or other files', async () => {
        writeRecording(path.join(media, 'a.mp4'), 2, DAY_MS);
        writeRecording(path.join(media, 'captures', 'b.jpg'), 1, DAY_MS);
        writeRecording(path.join(media, 'c.txt'), 1, DAY_MS);
        writeRecording(path.join(outside.dir, 'd.mp4'), 1, DAY_MS);
        fs.symlinkSync(path.join(outside.dir, 'd.mp4'), path.join(media, 'd.mp4'));
        const status = await mediaStatus(media, DEFAULT_POLICY);
        assert.equal(status.media_files, 2);
        assert.equal(status.media_bytes, 3 * 4096);
        assert.equal(status.skipped_links, 1);
        assert.ok(status.disk.used_percent > 0 && status.disk.used_percent < 50);
    });

    it('a cleanup stopped (redeploy) before it starts deletes nothing, and deleting stops taking files once stopped', async () => {
        for (let i = 0; i < 20; i++) writeRecording(path.join(media, `old-${i}.jpg`), 0, 30 * DAY_MS);
        const stop = new AbortController();
        stop.abort();
        await assert.rejects(cleanUpMedia({ mediaDir: media, policy: DEFAULT_POLICY, signal: stop.signal }), { code: 'MEDIA_CLEANUP_STOPPED' });
        const scan = await scanMedia(media, { extensions: ['.jpg'], keepFiles: true });
        const removed = await removeRecordings(scan, [0, 1, 2], { now: Date.now, signal: stop.signal });
        assert.equal(removed.removed.length, 0);
        assert.equal(fs.readdirSync(media).length, 20);
    });
});
