import { QUERY_LIMIT_MS, ReadOnlyDatabase } from '../sqlite/read-only-database';
import { Collector, writeRowCategory } from './context';
import { writeTableRows } from './sqlite-table';

/**
 * Marine-vision captures: detection metadata only. The image stays on the
 * boat and its path on disk is never exported. Columns come from the table,
 * so older boats without the later columns export what they have.
 */
export const collectVisionCaptures: Collector = (context, out) =>
    writeRowCategory('marine_vision_captures', out, async (entries) => {
        const db = await ReadOnlyDatabase.open(context.layout.capturesDb, { limitMs: QUERY_LIMIT_MS });
        if (!db) return {};
        try {
            return await writeTableRows(db, { table: 'captures', omitColumns: ['image_path'], timestampColumn: 'timestamp', since: context.since }, entries);
        } finally {
            await db.close();
        }
    });
