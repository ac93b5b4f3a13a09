import * as path from 'path';
import type { CategoryKey } from '../categories';
import type { CategoryOutput, CollectedCategory } from '../export/export-file';
import { BoatDataError } from '../errors';
import { noteReadFinished, noteReadRefused } from '../files/read-watch';
import type { Collector } from './context';

/**
 * How long a collector may go without adding to its category. Each read has
 * its own, shorter limit (a file 10 s, a SQLite statement 30 s); this one is
 * the backstop for what has none (walking the camera folder on a drive that
 * stopped answering), so no export can wait for ever on one category.
 */
export const CATEGORY_STALL_LIMIT_MS = 60_000;

/**
 * The collector, stopped with a SOURCE_TIMEOUT error when it goes `limitMs`
 * without writing anything (a write to the export file itself is never
 * counted against it). The export then records the category with that error
 * and the other eight still export. Should the stalled collector wake later,
 * its writes are refused, so it can never touch the export file again.
 */
export function stallLimited(key: CategoryKey, collector: Collector, limitMs = CATEGORY_STALL_LIMIT_MS): Collector {
    return (context, out) =>
        new Promise<CollectedCategory>((resolve, reject) => {
            let over = false;
            let timer: NodeJS.Timeout | undefined;
            // Where a stall is remembered for /health: the category, as if it were a file under the data root.
            const source = path.join(context.layout.root, `the ${key} category`);
            const arm = () => {
                clearTimeout(timer);
                timer = setTimeout(() => {
                    over = true;
                    const seconds = Math.round(limitMs / 1000);
                    noteReadRefused(source, `gave nothing for ${seconds} s and was cut off (a hung drive or mount?)`);
                    reject(new BoatDataError('SOURCE_TIMEOUT', `The ${key} sources gave nothing for ${seconds} s (a hung drive or mount?); the category was left empty`, 503));
                }, limitMs);
            };
            const guarded: CategoryOutput = {
                write: async (chunk) => {
                    if (over) throw new BoatDataError('SOURCE_TIMEOUT', `The ${key} category was already cut off`, 503);
                    clearTimeout(timer);
                    try {
                        await out.write(chunk);
                    } finally {
                        if (!over) arm();
                    }
                },
            };
            arm();
            collector(context, guarded).then(
                (collected) => {
                    clearTimeout(timer);
                    if (over) return;
                    noteReadFinished(source);
                    resolve(collected);
                },
                (err) => {
                    clearTimeout(timer);
                    if (!over) reject(err);
                },
            );
        });
}
