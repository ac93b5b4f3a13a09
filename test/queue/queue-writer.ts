// A separate process that changes the queue as fast as it can, so a test can SIGKILL it at any instant.
// It prints each export_id once its enqueue has resolved: that export must survive the kill
// (unless a newer incremental export superseded it, which is the point of superseding).
import { ExportQueue } from '../../lib/queue/export-queue';
import { queueLayout, writeExport } from './exports';

// Mocha loads every .ts of a folder it is given; this only runs as its own process.
if (require.main === module) {
    write(process.argv[2]).catch((err) => {
        console.error(err);
        process.exit(1);
    });
}

async function write(root: string): Promise<void> {
    const layout = queueLayout(root);
    const queue = new ExportQueue(layout, { completedKept: 20 });
    for (let i = 0; ; i++) {
        const exp = writeExport(layout, { mode: i % 3 === 0 ? 'incremental' : 'full' });
        await queue.enqueue(exp);
        process.stdout.write(`queued ${exp.export_id} ${exp.mode}\n`);
        const claimed = await queue.claimNext({ force: true });
        const result = i % 2 === 0 ? { kind: 'completed' as const, import_id: String(i), records_imported: 1 } : { kind: 'retry' as const, reason: 'test' };
        if (claimed) await queue.settle(claimed.queue_id, result);
    }
}
