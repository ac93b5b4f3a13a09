import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildDemoBoat } from '../demo-boat';
import { BenchFigure } from './figures';

const TELEMETRY_ROWS = 1_000_000;
const BOATLOG_ROWS = 100_000;
const ROUNDS = Number(process.env.D3KOS_BENCH_ROUNDS) || 6;

/**
 * One export in a fresh Node.js process with the package built at `dist`
 * (this one, or another checkout's): the second of two runs, so both are
 * timed warm. Each stores as its own default (0.2.0: plain; now: brotli).
 */
const CHILD = `
const fs = require('fs'), path = require('path');
const [dist, layoutFile] = process.argv.slice(1);
const { exportBoatData } = require(path.join(dist, 'lib/export/collect-export.js'));
const layout = JSON.parse(fs.readFileSync(layoutFile, 'utf8'));
(async () => {
    let last;
    for (let i = 0; i < 2; i++) {
        fs.mkdirSync(layout.exportFilesDir, { recursive: true });
        for (const name of fs.readdirSync(layout.exportFilesDir)) fs.rmSync(path.join(layout.exportFilesDir, name), { recursive: true });
        const started = process.hrtime.bigint();
        const cpu = process.cpuUsage();
        const done = await exportBoatData(layout, 'full', new Date());
        const used = process.cpuUsage(cpu);
        const bytes = (done.parts || [done]).reduce((n, p) => n + p.file_size_bytes, 0);
        last = { ms: Number(process.hrtime.bigint() - started) / 1e6, cpuMs: (used.user + used.system) / 1000, bytes };
    }
    process.stdout.write(JSON.stringify(last));
})();
`;

interface Timed {
    ms: number;
    cpuMs: number;
    bytes: number;
}

function exportIn(dist: string, layoutFile: string): Timed {
    return JSON.parse(execFileSync(process.execPath, ['-e', CHILD, dist, layoutFile], { encoding: 'utf8', env: { ...process.env, D3KOS_EXPORT_STORAGE: '' } })) as Timed;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * The full export of the 1M + 100k-row boat by this build against another
 * checkout's build (D3KOS_BENCH_AGAINST=<its dist folder>; 3aea3f0, the
 * commit #20 was filed on, in docs/benchmarks.md), in alternating rounds,
 * each in its own process: wall and CPU time (every thread), best and median.
 */
export async function run(log: (line: string) => void): Promise<BenchFigure[]> {
    const against = process.env.D3KOS_BENCH_AGAINST;
    if (!against) {
        log('D3KOS_BENCH_AGAINST is not set (the dist folder of the checkout to compare with): skipped');
        return [];
    }
    const theirs = path.resolve(against);
    const ours = path.resolve(__dirname, '../..');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-bench-against-'));
    try {
        log(`building a boat with ${TELEMETRY_ROWS} telemetry and ${BOATLOG_ROWS} boatlog rows…`);
        const boat = await buildDemoBoat({ root: path.join(dir, 'd3kos'), telemetryRows: TELEMETRY_ROWS, boatlogRows: BOATLOG_ROWS });
        const layoutFile = path.join(dir, 'layout.json');
        fs.writeFileSync(layoutFile, JSON.stringify(boat.layout));
        const runs: Record<'ours' | 'theirs', Timed[]> = { ours: [], theirs: [] };
        for (let round = 1; round <= ROUNDS; round++) {
            for (const [name, dist] of [
                ['theirs', theirs],
                ['ours', ours],
            ] as const) {
                const timed = exportIn(dist, layoutFile);
                runs[name].push(timed);
                log(`round ${round}, ${name === 'ours' ? 'this build' : against}: ${timed.ms.toFixed(0)} ms, CPU ${timed.cpuMs.toFixed(0)} ms, ${timed.bytes} bytes written`);
            }
        }
        const figures: BenchFigure[] = [];
        for (const [what, pick] of [
            ['wall time', (t: Timed) => t.ms],
            ['CPU time', (t: Timed) => t.cpuMs],
        ] as const) {
            const best = Math.min(...runs.ours.map(pick));
            const theirBest = Math.min(...runs.theirs.map(pick));
            const mid = median(runs.ours.map(pick));
            const theirMid = median(runs.theirs.map(pick));
            figures.push({
                name: `full export ${what}, this build vs ${against} (best of ${ROUNDS}; median ${mid.toFixed(0)} vs ${theirMid.toFixed(0)} ms)`,
                value: best,
                unit: 'ms',
                reference: `${against}: ${theirBest.toFixed(0)} ms`,
                ratio: best / theirBest,
                target: '≤ 1×',
                pass: best <= theirBest,
            });
        }
        const bytes = runs.ours[0].bytes;
        const theirBytes = runs.theirs[0].bytes;
        figures.push({
            name: `full export: bytes written to the data disk, this build vs ${against}`,
            value: bytes,
            unit: 'B',
            reference: `${theirBytes} B`,
            ratio: bytes / theirBytes,
            target: '≤ 0.2×',
            pass: bytes / theirBytes <= 0.2,
        });
        return figures;
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
