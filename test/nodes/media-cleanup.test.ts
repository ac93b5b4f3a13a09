import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { helper, nextError, nextMessage } from '../support/node-red';
import { DAY_MS, fillTo, mountSmallDisk, writeRecording } from '../media/disk-fixture';
import configNode = require('../../nodes/config/config');
import mediaCleanupNode = require('../../nodes/media-cleanup/media-cleanup');

describe('media-cleanup node', () => {
    let disk: ReturnType<typeof mountSmallDisk>;
    let root: string;
    let media: string;
    beforeEach(() => {
        disk = mountSmallDisk('media-node', 8);
        root = path.join(disk.dir, 'd3kos');
        media = path.join(disk.dir, 'camera-recordings');
        fs.mkdirSync(root);
        fs.mkdirSync(media);
    });
    afterEach(async () => {
        await helper.unload();
        disk?.unmount();
    });

    function flow(settings: Record<string, unknown> = {}) {
        return [
            { id: 'boat', type: 'd3kos-config', root, mediaDir: media },
            { id: 'media', type: 'd3kos-media-cleanup', boat: 'boat', maxAgeDays: '7', extensions: 'jpg, mp4', ...settings, wires: [['answer'], ['alerts']] },
            { id: 'answer', type: 'helper' },
            { id: 'alerts', type: 'helper' },
        ];
    }

    /** Lets messages already sent arrive (Node-RED delivers them asynchronously). */
    const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

    async function ask(msg: Record<string, unknown>) {
        const answer = nextMessage(helper.getNode('answer'));
        helper.getNode('media').receive(msg);
        return (await answer).payload;
    }

    it('a cleanup sends its report on output 1 and remembers it for the status, across a restart', async () => {
        writeRecording(path.join(media, 'captures', 'old.jpg'), 1, 10 * DAY_MS);
        writeRecording(path.join(media, 'new.mp4'), 2, DAY_MS);
        await helper.load([configNode, mediaCleanupNode], flow());

        const report = await ask({ topic: 'daily', schedule: { scheduled_for: new Date().toISOString() } });
        assert.equal(report.success, true);
        assert.deepEqual(report.deleted, ['captures/old.jpg']);
        assert.equal(report.deleted_count, 1);
        assert.equal(report.alert, null);
        assert.equal(report.trigger, 'schedule');
        assert.ok(!fs.existsSync(path.join(media, 'captures', 'old.jpg')));

        await helper.unload();
        await helper.load([configNode, mediaCleanupNode], flow());
        const status = await ask({ action: 'status' });
        assert.equal(status.success, true);
        assert.equal(status.media_dir, media);
        assert.equal(status.media_files, 1);
        assert.equal(status.media_bytes, 2 * 4096);
        assert.equal(status.level, 'ok');
        assert.deepEqual(Object.keys(status.disk).sort(), ['free_bytes', 'total_bytes', 'used_bytes', 'used_percent']);
        assert.equal(status.disk.total_bytes, 8 * 1024 * 1024);
        assert.equal(status.last_cleanup.trigger, 'schedule');
        assert.equal(status.last_cleanup.deleted_count, 1);
        assert.equal(status.last_cleanup.freed_bytes, 4096);
        assert.equal(status.last_cleanup.dry_run, false);
    });

    it('msg.payload.dry_run and max_age_days override the node: a dry run at 3 days lists and keeps', async () => {
        writeRecording(path.join(media, 'four-days.mp4'), 1, 4 * DAY_MS);
        await helper.load([configNode, mediaCleanupNode], flow());
        const report = await ask({ payload: { dry_run: true, max_age_days: 3 } });
        assert.equal(report.dry_run, true);
        assert.deepEqual(report.deleted, ['four-days.mp4']);
        assert.ok(fs.existsSync(path.join(media, 'four-days.mp4')));
    });

    it('a node set to dry run deletes nothing unless the message says dry_run: false', async () => {
        writeRecording(path.join(media, 'old.mp4'), 1, 30 * DAY_MS);
        await helper.load([configNode, mediaCleanupNode], flow({ dryRun: true }));
        assert.equal((await ask({})).dry_run, true);
        assert.ok(fs.existsSync(path.join(media, 'old.mp4')));
        assert.equal((await ask({ payload: { dry_run: false } })).deleted_count, 1);
        assert.ok(!fs.existsSync(path.join(media, 'old.mp4')));
    });

    it('a check at 96 % cleans up and sends a critical alert on output 2', async () => {
        for (let i = 0; i < 30; i++) writeRecording(path.join(media, `clip-${i}.mp4`), 40, DAY_MS + (30 - i) * 60_000);
        fillTo(disk.dir, 96);
        await helper.load([configNode, mediaCleanupNode], flow());
        const alert = nextMessage(helper.getNode('alerts'));
        const answer = await ask({ action: 'check' });
        assert.equal(answer.level, 'critical');
        assert.equal(answer.cleaned_up, true);
        assert.equal(answer.cleanup.trigger, 'disk-check');
        assert.ok(answer.cleanup.usage_after_percent < 85);
        assert.equal(answer.cleanup.alert.level, 'critical');
        const { topic, payload } = await alert;
        assert.equal(topic, 'media-storage-alert');
        assert.equal(payload.level, 'critical');
        assert.ok(payload.used_percent >= 96);
        assert.match(payload.message, /critically full/);
        assert.equal(payload.deleted_count, answer.cleanup.deleted_count);
    });

    it('a check below the warning threshold only measures: nothing is scanned or deleted, no alert', async () => {
        writeRecording(path.join(media, 'old.mp4'), 1, 30 * DAY_MS);
        await helper.load([configNode, mediaCleanupNode], flow());
        let alerted = false;
        helper.getNode('alerts').on('input', () => (alerted = true));
        const answer = await ask({ action: 'check' });
        assert.equal(answer.level, 'ok');
        assert.equal(answer.cleaned_up, false);
        assert.equal(answer.cleanup, null);
        assert.ok(fs.existsSync(path.join(media, 'old.mp4')), 'the age rule waits for the daily cleanup');
        await settle();
        assert.equal(alerted, false);
    });

    it('a disk kept full by other files alerts on the first check, not on every check after it', async () => {
        fillTo(disk.dir, 92, 'not-ours.bin');
        await helper.load([configNode, mediaCleanupNode], flow());
        let alerts = 0;
        helper.getNode('alerts').on('input', () => alerts++);
        for (let i = 0; i < 3; i++) assert.equal((await ask({ action: 'check' })).level, 'warning');
        await settle();
        assert.equal(alerts, 1);
        // An explicit cleanup always reports its alert.
        const alert = nextMessage(helper.getNode('alerts'));
        await ask({ action: 'cleanup' });
        assert.match((await alert).payload.message, /Still not below 80 %/);
        assert.equal(alerts, 2);
    });

    it('bad input is a 400 error naming the problem, and nothing is deleted', async () => {
        writeRecording(path.join(media, 'old.mp4'), 1, 30 * DAY_MS);
        await helper.load([configNode, mediaCleanupNode], flow());
        const node = helper.getNode('media');
        let error = nextError(node);
        const msg: Record<string, any> = { payload: { dry_run: 'yes' } };
        node.receive(msg);
        assert.match((await error).message, /dry_run must be true or false; got "yes"/);
        assert.equal(msg.statusCode, 400);
        error = nextError(node);
        node.receive({ action: 'format-disk' });
        assert.match((await error).message, /msg.action "format-disk" is not one of cleanup, check, status/);
        assert.ok(fs.existsSync(path.join(media, 'old.mp4')));
    });

    it('a bad setting makes every message fail with the reason', async () => {
        await helper.load([configNode, mediaCleanupNode], flow({ extensions: 'mp4, ../x' }));
        const error = nextError(helper.getNode('media'));
        helper.getNode('media').receive({ action: 'status' });
        assert.match((await error).message, /"\.\.\/x" is not one/);
    });

    it('close() stops a running cleanup between files and waits for it: its record is written, nothing is deleted after', async () => {
        for (let i = 0; i < 3000; i++) writeRecording(path.join(media, `day-${i % 30}`, `snap-${i}.jpg`), 0, 30 * DAY_MS);
        const count = () => fs.readdirSync(media, { recursive: true }).filter((name) => String(name).endsWith('.jpg')).length;
        await helper.load([configNode, mediaCleanupNode], flow());
        helper.getNode('media').receive({});
        while (count() === 3000) await new Promise((resolve) => setTimeout(resolve, 2));
        await helper.unload();

        const left = count();
        assert.ok(left > 0, 'the cleanup was stopped, not run to its end');
        const stateFile = path.join(root, 'state', 'media-cleanup.json');
        const record = JSON.parse(fs.readFileSync(stateFile, 'utf8')).last_cleanup;
        assert.equal(record.stopped, true);
        assert.equal(record.deleted_count, 3000 - left, 'the record, written before close() finished, counts every deletion');
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(count(), left, 'no deletion happens once close() has finished');
    });
});
