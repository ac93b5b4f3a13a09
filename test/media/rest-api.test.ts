import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot, RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { DAY_MS, fillTo, mountSmallDisk, usedPercent, writeRecording } from './disk-fixture';

// The "d3kOS storage" tab of flows/boat.json (with the boat's config node) on a real Node-RED, driven
// over HTTP as the dashboard and scripts drive it. Needs `npm run build`.

type FlowNode = Record<string, any>;

function storageTab(tweak: (flow: FlowNode[]) => void = () => undefined): FlowNode[] {
    const boat: FlowNode[] = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'flows', 'boat.json'), 'utf8'));
    const flow = boat.filter((n) => n.id === 'd3kos-storage-tab' || n.z === 'd3kos-storage-tab' || n.id === 'd3kos-boat');
    tweak(flow);
    return flow;
}

describe('the storage tab of the boat flow over HTTP', function () {
    this.timeout(90000);
    let scratch: ReturnType<typeof scratchFolder>;
    let disk: ReturnType<typeof mountSmallDisk>;
    let nodeRed: RunningNodeRed | undefined;
    let media: string;
    let root: string;

    beforeEach(() => {
        scratch = scratchFolder('storage-rest');
        disk = mountSmallDisk('storage-rest', 8);
        media = path.join(disk.dir, 'camera-recordings');
        root = path.join(scratch.dir, 'd3kos');
        fs.mkdirSync(root);
        writeRecording(path.join(media, 'captures', 'old.jpg'), 1, 10 * DAY_MS);
        writeRecording(path.join(media, 'new.mp4'), 2, DAY_MS);
    });
    afterEach(async () => {
        await nodeRed?.stop();
        nodeRed = undefined;
        disk?.unmount();
        scratch?.remove();
    });

    async function start(tweak?: (flow: FlowNode[]) => void) {
        nodeRed = await startNodeRed({
            userDir: path.join(scratch.dir, 'node-red'),
            flows: storageTab(tweak),
            env: { D3KOS_ROOT: root, D3KOS_MEDIA_DIR: media, D3KOS_BACKUP_DIR: path.join(scratch.dir, 'backups'), D3KOS_CENTRAL_URL: '' },
            quiet: true,
        });
        return nodeRed;
    }

    async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
        const res = await fetch(nodeRed!.url + url, {
            method,
            headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: res.status, json: await res.json() };
    }

    it('GET /api/media/status, POST /api/media/cleanup (dry run, then for real), and the status remembers it', async () => {
        await start();
        const before = await call('GET', '/api/media/status');
        assert.equal(before.status, 200);
        assert.equal(before.json.success, true);
        assert.equal(before.json.media_dir, media);
        assert.equal(before.json.media_files, 2);
        assert.equal(before.json.level, 'ok');
        assert.equal(before.json.last_cleanup, null);
        assert.equal(before.json.disk.total_bytes, 8 * 1024 * 1024);

        const dry = await call('POST', '/api/media/cleanup', { dry_run: true });
        assert.equal(dry.status, 200);
        assert.deepEqual(dry.json.deleted, ['captures/old.jpg']);
        assert.equal(dry.json.dry_run, true);
        assert.equal(dry.json.trigger, 'request');
        assert.ok(fs.existsSync(path.join(media, 'captures', 'old.jpg')));

        const real = await call('POST', '/api/media/cleanup');
        assert.equal(real.status, 200);
        assert.equal(real.json.deleted_count, 1);
        assert.equal(real.json.alert, null);
        assert.ok(!fs.existsSync(path.join(media, 'captures', 'old.jpg')));

        const after = await call('GET', '/api/media/status');
        assert.equal(after.json.media_files, 1);
        assert.equal(after.json.last_cleanup.deleted_count, 1);
        assert.equal(after.json.last_cleanup.dry_run, false);
        assert.doesNotMatch(nodeRed!.log(), /\[error\]|\[warn\] \[d3kos-/);
    });

    it('bad input, a foreign page and the wrong method get JSON errors with the right status, and nothing is deleted', async () => {
        await start();
        const bad = await call('POST', '/api/media/cleanup', { max_age_days: 'forever' });
        assert.equal(bad.status, 400);
        assert.equal(bad.json.success, false);
        assert.match(bad.json.error, /max_age_days"? must be a whole number/);

        const foreign = await call('POST', '/api/media/cleanup', {}, { Origin: 'http://evil.example' });
        assert.equal(foreign.status, 403);
        assert.equal(foreign.json.success, false);

        const get = await call('GET', '/api/media/cleanup');
        assert.equal(get.status, 405);
        assert.match(get.json.error, /use POST/);
        assert.ok(fs.existsSync(path.join(media, 'captures', 'old.jpg')));
    });

    it('the periodic disk check cleans up a disk that passed 90 % by itself', async () => {
        for (let i = 0; i < 20; i++) writeRecording(path.join(media, `clip-${i}.mp4`), 40, DAY_MS + (20 - i) * 60_000);
        fillTo(disk.dir, 93);
        await start((flow) => {
            flow.find((n) => n.id === 'storage-check').onceDelay = '0.5';
        });
        const stateFile = path.join(root, 'state', 'media-cleanup.json');
        const deadline = Date.now() + 20000;
        while (!fs.existsSync(stateFile) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
        const record = JSON.parse(fs.readFileSync(stateFile, 'utf8')).last_cleanup;
        assert.equal(record.trigger, 'disk-check');
        assert.ok(usedPercent(disk.dir) < 80, `the disk is at ${usedPercent(disk.dir)} %`);
        assert.ok(fs.existsSync(path.join(media, 'new.mp4')), 'only the oldest went');
    });
});
