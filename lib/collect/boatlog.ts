import { QUERY_LIMIT_MS, ReadOnlyDatabase } from '../sqlite/read-only-database';
import { Collector, writeRowCategory } from './context';
import { writeTableRows } from './sqlite-table';

/** Boatlog entries (voice, text, auto, weather, engine) from boatlog.db. */
export const collectBoatlog: Collector = (context, out) =>
    writeRowCategory('boatlog', out, async (entries) => {
        const db = await ReadOnlyDatabase.open(context.layout.boatlogDb, { limitMs: QUERY_LIMIT_MS });
        if (!db) return {};
        try {
            return await writeTableRows(db, { table: 'boatlog_entries', timestampColumn: 'timestamp', since: context.since }, entries);
        } finally {
            await db.close();
        }
    });
