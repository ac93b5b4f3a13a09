import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { BoatDataError } from '../../lib/errors';
import { ExportQueue } from '../../lib/queue/export-queue';
import { scratchFolder } from '../support/folders';
import { canMount, fillDisk, mountTinyDisk, queueLayout, readQueue, writeExport } from './exports';

describe('the queue on a full disk (a real, tiny tmpfs)', function () {
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof queueLayout>;
    let unmount: (() => void) | null;

    beforeEach(function () {
        if (!canMount) this.skip();
        scratch = scratchFolder('queue-disk-full');
        layout = queueLayout(scratch.dir);
        unmount = null;
    });
    afterEach(() => {
        unmount?.();
        scratch?.remove();
    });

    it('an enqueue that cannot be saved is refused as DISK_FULL (507) in words the owner can act on, and its export file is removed', async () => {
        unmount = mountTinyDisk(layout.exportsDir);
        const queue = new ExportQueue(layout);
        const first = writeExport(layout);
        await queue.enqueue(first);
        const before = fs.readFileSync(layout.queueFile, 'utf8');
        const exp = writeExport(layout);
        fillDisk(layout.exportsDir);

        const err = await queue.enqueue(exp).then(
            () => assert.fail('the enqueue was not refused'),
            (e: unknown) => e as BoatDataError,
        );
        assert.ok(err instanceof BoatDataError, `a BoatDataError, not ${String(err)}`);
        assert.equal(err.code, 'DISK_FULL');
        assert.equal(err.statusCode, 507);
        assert.equal(
            err.message,
            `The upload queue could not be saved: the disk holding ${layout.exportsDir} is full; free space on it; ${exp.export_id} was not queued and its file was removed: export again once the queue can be saved`,
        );
        assert.doesNotMatch(err.message, /ENOSPC|\.tmp/);
        assert.equal(fs.existsSync(exp.export_file), false, 'no orphan export that nothing would ever upload or clean up');
        assert.equal(fs.readFileSync(layout.queueFile, 'utf8'), before, 'the queue on disk is as it was');
        assert.ok(fs.existsSync(first.export_file), 'the export already queued keeps its file');
    });

    it('an export already queued is not deleted when a repeat enqueue of it fails with the rest of its batch', async () => {
        unmount = mountTinyDisk(layout.exportsDir);
        const queue = new ExportQueue(layout);
        const queued = writeExport(layout);
        await queue.enqueue(queued);
        const other = writeExport(layout);
        fillDisk(layout.exportsDir);
        // While a claim is being written, the repeat and the other arrive and make one batch:
        // the repeat changes nothing itself, but the other's failed write fails it too.
        const [claim, repeat, fresh] = await Promise.allSettled([queue.claimNext(), queue.enqueue(queued), queue.enqueue(other)]);
        assert.deepEqual([claim.status, repeat.status, fresh.status], ['rejected', 'rejected', 'rejected']);
        assert.ok(fs.existsSync(queued.export_file), 'the queued export keeps its file');
        assert.equal(fs.existsSync(other.export_file), false);
        assert.deepEqual(
            readQueue(layout).pending.map((e: any) => e.export_id),
            [queued.export_id],
        );
    });

    it('a history that cannot be saved is reported in words, not raw Node text, and the upload still counts', async () => {
        const historyDisk = path.join(scratch.dir, 'history-disk');
        unmount = mountTinyDisk(historyDisk);
        const queue = new ExportQueue({ ...layout, historyFile: path.join(historyDisk, 'export_history.json') });
        const problems: string[] = [];
        queue.onProblem((message) => problems.push(message));
        await queue.enqueue(writeExport(layout));
        fillDisk(historyDisk);
        const claimed = (await queue.claimNext())!;
        const settled = await queue.settle(claimed.queue_id, { kind: 'completed', import_id: 'imp-1', records_imported: 1 });
        assert.equal(settled!.status, 'completed');
        assert.deepEqual(problems, [`The export history could not be saved: the disk holding ${historyDisk} is full; free space on it`]);
    });
});
