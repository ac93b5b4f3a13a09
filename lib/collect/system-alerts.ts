import { QUERY_LIMIT_MS, ReadOnlyDatabase } from '../sqlite/read-only-database';
import { errorMessage } from '../errors';
import { Collector, readJsonSource, writeRowCategory } from './context';
import { writeTableRows } from './sqlite-table';
import type { Watermark } from '../export/watermarks';

/** Self-healing issues from issues.db and the alerts in alerts.json; each row says which it came from. */
export const collectSystemAlerts: Collector = (context, out) =>
    writeRowCategory('system_alerts', out, async (entries) => {
        const problems: string[] = [];
        let watermark: Watermark | undefined;
        try {
            const db = await ReadOnlyDatabase.open(context.layout.issuesDb, { limitMs: QUERY_LIMIT_MS });
            if (db) {
                try {
                    watermark = (await writeTableRows(db, { table: 'issues', constants: { source: 'issues.db' }, timestampColumn: 'timestamp', since: context.since }, entries)).watermark;
                } finally {
                    await db.close();
                }
            }
        } catch (err) {
            problems.push(errorMessage(err));
        }
        try {
            const alerts = await readJsonSource(context.layout.alertsJson);
            if (alerts !== undefined) {
                const list = Array.isArray(alerts) ? alerts : (alerts as { alerts?: unknown }).alerts;
                if (!Array.isArray(list)) throw new Error('alerts.json does not hold a list of alerts');
                // alerts.json is small and has no row order to mark: it goes out whole; the central side dedupes.
                await entries.addValues(list.map((alert) => (typeof alert === 'object' && alert !== null ? { ...alert, source: 'alerts.json' } : { value: alert, source: 'alerts.json' })));
            }
        } catch (err) {
            problems.push(errorMessage(err));
        }
        if (problems.length === 2) throw new Error(problems.join('; '));
        return { watermark, problems };
    });
