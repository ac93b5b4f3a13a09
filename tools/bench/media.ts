import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cleanUpMedia, DEFAULT_POLICY, resolvePolicy } from '../../lib/media';
import { BenchFigure } from './figures';
import { timeShell, watch } from './measure';

const FILES = 100_000;
const FOLDERS = 100;
/** One recording in ten is from the last three days; the rest are 10 to 30 days old. */
const NEW_EVERY = 10;
const DAY_S = 24 * 60 * 60;

/**
 * Part 4: media cleanup over 100,000 recordings (empty files: the walk and
 * the choice are what is measured, not the disk's write speed), against
 * `find -mtime +7` over the same tree. Best of three on each side.
 */
export async function run(log: (line: string) => void): Promise<BenchFigure[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-bench-media-'));
    const tree = path.join(dir, 'camera-recordings');
    try {
        log(`building ${FILES} recordings in ${FOLDERS} folders…`);
        const old = buildTree(tree);
        const findOld = `find ${tree} -type f -mtime +7`;
        const found = Number(
            execFileSync('bash', ['-c', `${findOld} | wc -l`])
                .toString()
                .trim(),
        );
        if (found !== old) throw new Error(`find sees ${found} old recordings, the tree has ${old}`);

        const referenceMs = timeShell(`${findOld} > /dev/null`);
        log(`reference (${findOld.replace(tree, '<tree>')}, best of 3): ${referenceMs.toFixed(0)} ms`);
        let dryMs = Infinity;
        let worstStall = 0;
        let worstRss = 0;
        for (let i = 0; i < 3; i++) {
            const watched = await watch(() => cleanUpMedia({ mediaDir: tree, policy: DEFAULT_POLICY, dryRun: true }));
            if (watched.result.deleted_count !== old) throw new Error(`the dry run chose ${watched.result.deleted_count} recordings, not ${old}`);
            log(`dry run ${i + 1}: ${watched.ms.toFixed(0)} ms, longest stall ${watched.longestStallMs.toFixed(1)} ms, RSS +${watched.peakRssAboveIdleMb.toFixed(1)} MB`);
            dryMs = Math.min(dryMs, watched.ms);
            worstStall = Math.max(worstStall, watched.longestStallMs);
            worstRss = Math.max(worstRss, watched.peakRssAboveIdleMb);
        }

        // The oldest-first path: thresholds set so low that every recording is a candidate, as on a full disk.
        const full = resolvePolicy({ warningPercent: 0.02, warningTargetPercent: 0.01, criticalPercent: 0.02, criticalTargetPercent: 0.01 });
        let oldestFirstMs = Infinity;
        for (let i = 0; i < 3; i++) {
            const watched = await watch(() => cleanUpMedia({ mediaDir: tree, policy: full, dryRun: true }));
            log(`dry run, disk over its threshold ${i + 1}: ${watched.ms.toFixed(0)} ms, longest stall ${watched.longestStallMs.toFixed(1)} ms`);
            oldestFirstMs = Math.min(oldestFirstMs, watched.ms);
            worstStall = Math.max(worstStall, watched.longestStallMs);
        }

        // Deleting for real needs a fresh tree for every run, on each side.
        const findDelete = `find ${tree} -type f \\( -name '*.jpg' -o -name '*.mp4' \\) -mtime +7 -delete`;
        let realMs = Infinity;
        let findDeleteMs = Infinity;
        for (let i = 0; i < 3; i++) {
            buildTree(tree);
            const watched = await watch(() => cleanUpMedia({ mediaDir: tree, policy: DEFAULT_POLICY }));
            if (watched.result.deleted_count !== old) throw new Error(`the cleanup deleted ${watched.result.deleted_count} recordings, not ${old}`);
            realMs = Math.min(realMs, watched.ms);
            worstStall = Math.max(worstStall, watched.longestStallMs);
            buildTree(tree);
            findDeleteMs = Math.min(findDeleteMs, timeShell(findDelete, 1));
            log(`real run ${i + 1}: ${watched.ms.toFixed(0)} ms (find -delete: ${findDeleteMs.toFixed(0)} ms best so far), longest stall ${watched.longestStallMs.toFixed(1)} ms`);
        }

        const dryRatio = dryMs / referenceMs;
        const realRatio = realMs / findDeleteMs;
        return [
            {
                name: 'media cleanup dry run (scan + selection), 100k files',
                value: dryMs,
                unit: 'ms',
                reference: `find -mtime +7 = ${referenceMs.toFixed(0)} ms`,
                ratio: dryRatio,
                target: '≤ 2×',
                pass: dryRatio <= 2,
            },
            {
                name: 'media cleanup real run (90k deleted), 100k files',
                value: realMs,
                unit: 'ms',
                reference: `find -mtime +7 -delete = ${findDeleteMs.toFixed(0)} ms`,
                ratio: realRatio,
                target: '≤ 2×',
                pass: realRatio <= 2,
            },
            {
                name: 'media cleanup dry run with the disk over its threshold (oldest-first order), 100k files',
                value: oldestFirstMs,
                unit: 'ms',
                reference: `find -mtime +7 = ${referenceMs.toFixed(0)} ms`,
                ratio: oldestFirstMs / referenceMs,
            },
            { name: 'media cleanup longest event-loop stall', value: worstStall, unit: 'ms', target: '≤ 50 ms', pass: worstStall <= 50 },
            { name: 'media cleanup peak RSS above idle (dry run)', value: worstRss, unit: 'MB' },
        ];
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Empty recordings, `.jpg` and `.mp4`, half of the folders under `captures/`; returns how many are old. */
function buildTree(tree: string): number {
    fs.rmSync(tree, { recursive: true, force: true });
    const now = Date.now() / 1000;
    const perFolder = FILES / FOLDERS;
    let old = 0;
    for (let f = 0; f < FOLDERS; f++) {
        const folder = path.join(tree, f % 2 ? 'captures' : '', `day-${String(f).padStart(3, '0')}`);
        fs.mkdirSync(folder, { recursive: true });
        for (let i = 0; i < perFolder; i++) {
            const fresh = i % NEW_EVERY === 0;
            const file = path.join(folder, `rec-${i}.${i % 3 ? 'jpg' : 'mp4'}`);
            fs.closeSync(fs.openSync(file, 'w'));
            const when = fresh ? now - ((i % 3) + 0.5) * DAY_S : now - (10 + ((f + i) % 20)) * DAY_S;
            fs.utimesSync(file, when, when);
            if (!fresh) old++;
        }
    }
    return old;
}
