import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildDemoBoat } from '../demo-boat';
import { BenchFigure } from './figures';
import { timeShell, watch } from './measure';

const TELEMETRY_ROWS = 1_000_000;
const BOATLOG_ROWS = 100_000;

/**
 * Part 1: a full export of 1,000,000 telemetry rows + 100,000 boatlog rows
 * through the real nodes in a Node-RED runtime, against the sqlite3 CLI
 * dumping the same rows as JSON through gzip -6.
 */
export async function run(log: (line: string) => void): Promise<BenchFigure[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-bench-export-'));
    try {
        log(`building a boat with ${TELEMETRY_ROWS} telemetry and ${BOATLOG_ROWS} boatlog rows…`);
        const boat = await buildDemoBoat({ root: path.join(dir, 'd3kos'), telemetryRows: TELEMETRY_ROWS, boatlogRows: BOATLOG_ROWS });

        const reference =
            `sqlite3 -json ${boat.layout.telemetryDb} 'SELECT * FROM telemetry_events' | gzip -6 > /dev/null && ` +
            `sqlite3 -json ${boat.layout.boatlogDb} 'SELECT * FROM boatlog_entries' | gzip -6 > /dev/null`;
        const referenceMs = timeShell(reference);
        log(`reference (sqlite3 -json | gzip -6, best of 3): ${referenceMs.toFixed(0)} ms`);

        const { helper, exportFlow } = await import('./node-red-flow');
        const runtime = await exportFlow(boat);
        try {
            // Time: the best of three runs, as for the reference. Memory and stalls: the worst of the three.
            let bestMs = Infinity;
            let worstRss = 0;
            let worstStall = 0;
            for (let i = 0; i < 3; i++) {
                const watched = await watch(() => runtime.exportOnce());
                log(`export ${i + 1}: ${watched.ms.toFixed(0)} ms, RSS +${watched.peakRssAboveIdleMb.toFixed(1)} MB, longest stall ${watched.longestStallMs.toFixed(1)} ms`);
                bestMs = Math.min(bestMs, watched.ms);
                worstRss = Math.max(worstRss, watched.peakRssAboveIdleMb);
                worstStall = Math.max(worstStall, watched.longestStallMs);
                for (const name of fs.readdirSync(boat.layout.exportFilesDir)) fs.rmSync(path.join(boat.layout.exportFilesDir, name));
            }
            const ratio = bestMs / referenceMs;
            return [
                { name: 'full export wall time', value: bestMs, unit: 'ms', reference: `sqlite3 -json | gzip -6 = ${referenceMs.toFixed(0)} ms`, ratio, target: '≤ 2×', pass: ratio <= 2 },
                { name: 'full export peak RSS above idle', value: worstRss, unit: 'MB', target: '≤ 150 MB', pass: worstRss <= 150 },
                { name: 'full export longest event-loop stall', value: worstStall, unit: 'ms', target: '≤ 50 ms', pass: worstStall <= 50 },
            ];
        } finally {
            await helper.unload();
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
