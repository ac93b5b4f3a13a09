import * as os from 'os';
import { promises as fs } from 'fs';
import { QUERY_LIMIT_MS, ReadOnlyDatabase } from '../sqlite/read-only-database';
import { errorMessage } from '../errors';
import { readRegularFile, withinLimit } from '../files/regular-file';
import { Collector, writeRowCategory } from './context';
import { writeTableRows } from './sqlite-table';

/** Telemetry events from telemetry.db, plus a snapshot of the Pi as it is now. */
export const collectTelemetry: Collector = (context, out) =>
    writeRowCategory('telemetry', out, async (entries) => {
        const snapshot = await systemSnapshot(context.layout.root, context.now);
        // A broken telemetry.db still leaves the live snapshot to export.
        try {
            const db = await ReadOnlyDatabase.open(context.layout.telemetryDb, { limitMs: QUERY_LIMIT_MS });
            if (!db) return { data: { system_snapshot: snapshot } };
            try {
                const result = await writeTableRows(db, { table: 'telemetry_events', timestampColumn: 'timestamp', since: context.since }, entries);
                return { ...result, data: { system_snapshot: snapshot } };
            } finally {
                await db.close();
            }
        } catch (err) {
            return { problems: [errorMessage(err)], data: { system_snapshot: snapshot } };
        }
    });

export interface SystemSnapshot {
    taken_at: string;
    uptime_seconds: number;
    load_average: number[];
    memory: { total_bytes: number; free_bytes: number };
    disk: { total_bytes: number; free_bytes: number; used_percent: number } | null;
    cpu_temperature_c: number | null;
}

/** What the Pi looks like at export time; each reading that this machine lacks is null. */
export async function systemSnapshot(dataRoot: string, now: Date): Promise<SystemSnapshot> {
    let disk: SystemSnapshot['disk'] = null;
    try {
        // Bounded: statfs of a hung mount would wait for ever.
        const asked = fs.statfs(dataRoot);
        const stats = await withinLimit(asked, 5000, () => undefined, 'Reading the disk space');
        const total = stats.blocks * stats.bsize;
        const free = stats.bavail * stats.bsize;
        disk = { total_bytes: total, free_bytes: free, used_percent: total > 0 ? Math.round(((total - free) / total) * 1000) / 10 : 0 };
    } catch {
        disk = null;
    }
    let temperature: number | null = null;
    try {
        const milli = Number((await readRegularFile('/sys/class/thermal/thermal_zone0/temp', { limitMs: 2000 })).trim());
        if (Number.isFinite(milli)) temperature = Math.round(milli / 100) / 10;
    } catch {
        temperature = null;
    }
    return {
        taken_at: now.toISOString(),
        uptime_seconds: Math.round(os.uptime()),
        load_average: os.loadavg().map((v) => Math.round(v * 100) / 100),
        memory: { total_bytes: os.totalmem(), free_bytes: os.freemem() },
        disk,
        cpu_temperature_c: temperature,
    };
}
