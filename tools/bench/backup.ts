import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildDemoBoat } from '../demo-boat';
import { createBackup } from '../../lib/backup';
import { makeRecoveryKey } from '../../lib/crypto/keys';
import { writeBoatlogCsvFile } from '../../lib/csv/boatlog-csv';
import { BenchFigure } from './figures';
import { timeShell, watch } from './measure';

const TELEMETRY_ROWS = 1_000_000;
const BOATLOG_ROWS = 100_000;
const RUNS = 2;

/**
 * Part 3: a backup of the 1,000,000-telemetry-row boat against `tar czf` of
 * the same folders (which, unlike a backup, copies live databases raw and
 * checks nothing), and the boatlog CSV of 100,000 rows. Then the same
 * backup encrypted (age, to the boat's key and a recovery key) against
 * `tar czf - | age -r <recipient>` of the same folders.
 */
export async function run(log: (line: string) => void): Promise<BenchFigure[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-bench-backup-'));
    try {
        log(`building a boat with ${TELEMETRY_ROWS} telemetry and ${BOATLOG_ROWS} boatlog rows…`);
        const boat = await buildDemoBoat({ root: path.join(dir, 'd3kos'), backupDir: path.join(dir, 'backups'), telemetryRows: TELEMETRY_ROWS, boatlogRows: BOATLOG_ROWS });
        const folders = ['config', 'data', 'state', 'services'].filter((f) => fs.existsSync(path.join(boat.root, f)));

        const referenceMs = timeShell(`tar czf ${path.join(dir, 'reference.tar.gz')} -C ${boat.root} ${folders.join(' ')}`, RUNS);
        const referenceSize = fs.statSync(path.join(dir, 'reference.tar.gz')).size;
        fs.rmSync(path.join(dir, 'reference.tar.gz'));
        log(`reference (tar czf, best of ${RUNS}): ${referenceMs.toFixed(0)} ms, ${(referenceSize / 1048576).toFixed(1)} MB`);

        const settings = { layout: boat.layout, flowsFile: null, signalkSettings: null, signalkPluginConfig: null, requireMountedDrive: false };
        let bestMs = Infinity;
        let worstRss = 0;
        let worstStall = 0;
        let size = 0;
        for (let i = 0; i < RUNS; i++) {
            const watched = await watch(() => createBackup(settings));
            size = watched.result.backup.size_bytes;
            log(
                `backup ${i + 1}: ${watched.ms.toFixed(0)} ms, ${(size / 1048576).toFixed(1)} MB, RSS +${watched.peakRssAboveIdleMb.toFixed(1)} MB, longest stall ${watched.longestStallMs.toFixed(1)} ms`,
            );
            bestMs = Math.min(bestMs, watched.ms);
            worstRss = Math.max(worstRss, watched.peakRssAboveIdleMb);
            worstStall = Math.max(worstStall, watched.longestStallMs);
            for (const name of fs.readdirSync(boat.backupDir)) fs.rmSync(path.join(boat.backupDir, name), { recursive: true, force: true });
        }

        const encrypted = await encryptedFigures(dir, boat.root, folders, settings, log);

        const csv = await watch(() => writeBoatlogCsvFile(boat.layout.boatlogDb, path.join(dir, 'boatlog.csv')));
        log(`boatlog CSV: ${csv.result.rows} rows, ${(csv.result.bytes / 1048576).toFixed(1)} MB in ${csv.ms.toFixed(0)} ms, RSS +${csv.peakRssAboveIdleMb.toFixed(1)} MB`);

        const ratio = bestMs / referenceMs;
        return [
            { name: 'backup wall time', value: bestMs, unit: 'ms', reference: `tar czf = ${referenceMs.toFixed(0)} ms`, ratio, target: '≤ 1.5×', pass: ratio <= 1.5 },
            { name: 'backup archive size', value: size / 1048576, unit: 'MB', reference: `tar czf = ${(referenceSize / 1048576).toFixed(1)} MB` },
            { name: 'backup peak RSS above idle', value: worstRss, unit: 'MB' },
            { name: 'backup longest event-loop stall', value: worstStall, unit: 'ms' },
            { name: `boatlog CSV of ${csv.result.rows} rows`, value: csv.ms, unit: 'ms' },
            { name: 'boatlog CSV peak RSS above idle', value: csv.peakRssAboveIdleMb, unit: 'MB' },
            ...encrypted,
        ];
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** An encrypted backup (once a recovery key exists) against `tar czf - … | age -r <recipient>` with Debian's age. */
async function encryptedFigures(dir: string, root: string, folders: string[], settings: Parameters<typeof createBackup>[0], log: (line: string) => void): Promise<BenchFigure[]> {
    const { recipient } = await makeRecoveryKey(root);
    const reference = path.join(dir, 'reference.tar.gz.age');
    const referenceMs = timeShell(`tar czf - -C ${root} ${folders.join(' ')} | age -r ${recipient} -o ${reference}`, RUNS);
    const referenceSize = fs.statSync(reference).size;
    fs.rmSync(reference);
    log(`reference (tar czf | age -r, best of ${RUNS}): ${referenceMs.toFixed(0)} ms, ${(referenceSize / 1048576).toFixed(1)} MB`);
    let bestMs = Infinity;
    let worstRss = 0;
    let worstStall = 0;
    let size = 0;
    for (let i = 0; i < RUNS; i++) {
        const watched = await watch(() => createBackup(settings));
        if (!watched.result.backup.encrypted) throw new Error('the backup was not encrypted although a recovery key exists');
        size = watched.result.backup.size_bytes;
        log(
            `encrypted backup ${i + 1}: ${watched.ms.toFixed(0)} ms, ${(size / 1048576).toFixed(1)} MB, RSS +${watched.peakRssAboveIdleMb.toFixed(1)} MB, longest stall ${watched.longestStallMs.toFixed(1)} ms`,
        );
        bestMs = Math.min(bestMs, watched.ms);
        worstRss = Math.max(worstRss, watched.peakRssAboveIdleMb);
        worstStall = Math.max(worstStall, watched.longestStallMs);
        for (const name of fs.readdirSync(settings.layout.backupDir)) fs.rmSync(path.join(settings.layout.backupDir, name), { recursive: true, force: true });
    }
    const ratio = bestMs / referenceMs;
    return [
        { name: 'encrypted backup wall time', value: bestMs, unit: 'ms', reference: `tar czf | age -r = ${referenceMs.toFixed(0)} ms`, ratio, target: '≤ 1.5×', pass: ratio <= 1.5 },
        { name: 'encrypted backup size', value: size / 1048576, unit: 'MB', reference: `tar czf | age -r = ${(referenceSize / 1048576).toFixed(1)} MB` },
        { name: 'encrypted backup peak RSS above idle', value: worstRss, unit: 'MB' },
        { name: 'encrypted backup longest event-loop stall', value: worstStall, unit: 'ms' },
    ];
}
