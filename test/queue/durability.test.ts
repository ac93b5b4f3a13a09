import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { allEntries } from '../../lib/queue/entries';
import { ExportQueue } from '../../lib/queue/export-queue';
import { loadQueueFile } from '../../lib/queue/queue-file';
import { scratchFolder } from '../support/folders';
import { queueLayout, readQueue, writeExport } from './exports';

describe('queue durability', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof queueLayout>;

    beforeEach(() => {
        scratch = scratchFolder('queue-durable');
        layout = queueLayout(scratch.dir);
    });
    afterEach(() => scratch.remove());

    it('a power cut at any instant of a queue write leaves a queue that loads, holding every enqueue that had finished', async () => {
        const confirmed = new Set<string>();
        for (let kill = 0; kill < 6; kill++) {
            const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(__dirname, 'queue-writer.ts'), scratch.dir], {
                stdio: ['ignore', 'pipe', 'inherit'],
            });
            let buffered = '';
            const heard = new Set<string>();
            child.stdout!.on('data', (chunk) => {
                buffered += String(chunk);
                const lines = buffered.split('\n');
                buffered = lines.pop()!;
                for (const line of lines) {
                    const [word, id, mode] = line.split(' ');
                    if (word === 'queued' && mode === 'full') heard.add(id);
                }
            });
            // Let it get going, then cut it off at an unpredictable point of its write loop.
            await new Promise<void>((resolve) => {
                const check = setInterval(() => {
                    if (heard.size >= 5) {
                        clearInterval(check);
                        setTimeout(resolve, Math.random() * 150);
                    }
                }, 5);
            });
            child.kill('SIGKILL');
            await new Promise((resolve) => child.once('exit', resolve));
            for (const id of heard) confirmed.add(id);

            const loaded = await loadQueueFile(layout.queueFile);
            assert.equal(loaded.setAside, null, `after kill ${kill + 1} the queue file did not load: ${loaded.setAside?.reason}`);
            const present = new Set(allEntries(loaded.queue).map((e) => e.export_id));
            const history = fs.existsSync(layout.historyFile) ? JSON.parse(fs.readFileSync(layout.historyFile, 'utf8')).exports.map((r: any) => r.export_id) : [];
            for (const id of history) present.add(id);
            const lost = [...confirmed].filter((id) => !present.has(id));
            // Entries trimmed from `completed` live on in the history.
            assert.deepEqual(lost, [], `after kill ${kill + 1}, exports whose enqueue had finished are gone`);
            await new ExportQueue(layout).recover();
            assert.equal(readQueue(layout).uploading.length, 0);
        }
    });

    it('hundreds of concurrent enqueues (concurrent queue writes were unlocked and not atomic) all land, in one valid file', async () => {
        const queue = new ExportQueue(layout);
        const exports = Array.from({ length: 300 }, () => writeExport(layout));
        const results = await Promise.all(exports.map((exp) => queue.enqueue(exp)));
        assert.equal(results.length, 300);
        const file = readQueue(layout);
        assert.equal(file.pending.length, 300);
        assert.deepEqual(new Set(file.pending.map((e: any) => e.export_id)), new Set(exports.map((e) => e.export_id)));
        const leftovers = fs.readdirSync(layout.exportsDir).filter((name) => name.endsWith('.tmp'));
        assert.deepEqual(leftovers, []);
    });

    it('two queue objects on one boat (two nodes, say) still have one writer', async () => {
        const a = new ExportQueue(layout);
        const b = new ExportQueue(layout);
        const exports = Array.from({ length: 100 }, () => writeExport(layout));
        await Promise.all(exports.map((exp, i) => (i % 2 ? a : b).enqueue(exp)));
        assert.equal(readQueue(layout).pending.length, 100);
    });
});
