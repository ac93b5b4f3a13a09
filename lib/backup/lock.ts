import * as path from 'path';

const queues = new Map<string, Promise<unknown>>();

/**
 * Runs backup work on one backup folder one piece at a time within this
 * process (two nodes, or an automatic backup meeting a button press, never
 * prune or restore under each other's feet).
 */
export function withBackupLock<T>(backupDir: string, work: () => Promise<T>): Promise<T> {
    const key = path.resolve(backupDir);
    const previous = queues.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    const settled = next.catch(() => undefined);
    queues.set(key, settled);
    settled.then(() => {
        if (queues.get(key) === settled) queues.delete(key);
    });
    return next;
}
