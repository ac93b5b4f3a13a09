import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sqlite3 from 'sqlite3';
import { appendBoatlogRows, buildDemoBoat, DemoBoat } from './demo-boat';
import { packageRoot, RunningNodeRed, startNodeRed } from './node-red-runtime';

/**
 * The crash test (`npm run crash-test -- --kills 200`): a boat Node-RED
 * running flows/boat.json is SIGKILLed at random moments of export, enqueue
 * and upload while another process keeps writing boatlog rows, then started
 * again, over and over. A central Node-RED running flows/central-ingest.json
 * stays up. At the end every boatlog row on the boat must be stored
 * centrally exactly once, and the queue file must have loaded after every kill.
 */
export interface CrashTestOptions {
    kills: number;
    /** Scratch folder; a fresh one under the OS temp dir unless given. Removed at the end unless `keep`. */
    dir?: string;
    keep?: boolean;
    log?: (line: string) => void;
}

export interface CrashTestResult {
    kills: number;
    /** Kills by what the boat was doing: before the export answered, with an upload in flight, otherwise. */
    killed_during: { export: number; upload: number; other: number };
    rows_on_boat: number;
    rows_central: number;
    missing: number;
    unexpected: number;
    duplicates: number;
    unloadable_queues: string[];
    failed_exports: number;
    seconds: number;
    ok: boolean;
}

const BOAT_ENV = { D3KOS_QUEUE_POLL_S: '1', D3KOS_RETRY_SCHEDULE: '0,1,1' };

export async function runCrashTest(options: CrashTestOptions): Promise<CrashTestResult> {
    const log = options.log ?? (() => undefined);
    const started = Date.now();
    const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-crash-'));
    const flows = (name: string) => JSON.parse(fs.readFileSync(path.join(packageRoot(), 'flows', name), 'utf8'));
    let central: RunningNodeRed | undefined;
    let boatRed: RunningNodeRed | undefined;
    let writer: ChildProcess | undefined;
    try {
        const boat = await buildDemoBoat({ root: path.join(dir, 'boat'), mediaDir: path.join(dir, 'media'), backupDir: path.join(dir, 'backups'), boatlogRows: 500, telemetryRows: 20000 });
        central = await startNodeRed({
            userDir: path.join(dir, 'central-node-red'),
            flows: flows('central-ingest.json'),
            env: { D3KOS_INGEST_MODE: 'open', D3KOS_INGEST_DIR: path.join(dir, 'central-data') },
            quiet: true,
        });
        const startBoat = () =>
            startNodeRed({
                userDir: path.join(dir, 'boat-node-red'),
                flows: flows('boat.json'),
                env: { D3KOS_ROOT: boat.root, D3KOS_MEDIA_DIR: boat.mediaDir, D3KOS_BACKUP_DIR: boat.backupDir, D3KOS_CENTRAL_URL: central!.url, ...BOAT_ENV },
                quiet: true,
            });
        writer = startWriter(boat.layout.boatlogDb);

        const killedDuring = { export: 0, upload: 0, other: 0 };
        const unloadable: string[] = [];
        for (let kill = 1; kill <= options.kills; kill++) {
            boatRed = await startBoat();
            let exportAnswered = false;
            fetch(`${boatRed.url}/export/generate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"mode":"incremental"}' })
                .then(() => (exportAnswered = true))
                .catch(() => undefined);
            const delay = randomDelayMs();
            await sleep(delay);
            await boatRed.kill('SIGKILL');
            boatRed = undefined;

            const queue = queueAfterKill(boat);
            if (typeof queue === 'string') unloadable.push(`kill ${kill}: ${queue}`);
            const phase = !exportAnswered ? 'export' : typeof queue !== 'string' && queue.uploading > 0 ? 'upload' : 'other';
            killedDuring[phase]++;
            const counts = typeof queue === 'string' ? `queue UNLOADABLE: ${queue}` : `queue loads (${queue.pending} pending, ${queue.uploading} uploading, ${queue.completed} completed)`;
            log(`kill ${kill}/${options.kills}: ${delay} ms after start, during ${phase}; ${counts}`);
        }

        log('stopping the boatlog writer; one last incremental export, then the queue drains');
        await stopWriter(writer);
        writer = undefined;
        boatRed = await startBoat();
        const last = await (await fetch(`${boatRed.url}/export/generate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"mode":"incremental"}' })).json();
        if (!last.export_id) throw new Error(`the last export failed: ${JSON.stringify(last)}`);
        const drained = await waitForDrain(boatRed, boat.layout.queueFile, last.export_id);
        await boatRed.stop();
        boatRed = undefined;

        const onBoat = (await boatlogIds(boat.layout.boatlogDb)).map(String);
        const stored = (await centralBoatlog(central, boat.installationId)).map((entry) => String(entry.entry_id));
        const storedSet = new Set(stored);
        const boatSet = new Set(onBoat);
        const strays = fs.readdirSync(boat.layout.exportsDir).filter((name) => name.includes('.unreadable-'));
        for (const name of strays) unloadable.push(`set aside by the queue: ${name}`);
        const result: CrashTestResult = {
            kills: options.kills,
            killed_during: killedDuring,
            rows_on_boat: onBoat.length,
            rows_central: stored.length,
            missing: onBoat.filter((id) => !storedSet.has(id)).length,
            unexpected: [...storedSet].filter((id) => !boatSet.has(id)).length,
            duplicates: stored.length - storedSet.size,
            unloadable_queues: unloadable,
            failed_exports: drained.failed_count,
            seconds: Math.round((Date.now() - started) / 1000),
            ok: false,
        };
        result.ok = result.missing === 0 && result.unexpected === 0 && result.duplicates === 0 && unloadable.length === 0 && result.rows_on_boat > 0;
        return result;
    } finally {
        await boatRed?.kill('SIGKILL');
        if (writer) await stopWriter(writer);
        await central?.stop();
        if (!options.keep && !options.dir) fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Mostly within the first quarter second (export, enqueue, first upload: about 250 ms on a small boat), sometimes later (retries, polling). */
function randomDelayMs(): number {
    const roll = Math.random();
    if (roll < 0.6) return Math.round(Math.random() * 250);
    if (roll < 0.85) return 250 + Math.round(Math.random() * 350);
    return 600 + Math.round(Math.random() * 2400);
}

/** The queue file as the next start will load it: its list sizes, or why it cannot be loaded. */
function queueAfterKill(boat: DemoBoat): { pending: number; uploading: number; completed: number } | string {
    let text: string;
    try {
        text = fs.readFileSync(boat.layout.queueFile, 'utf8');
    } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { pending: 0, uploading: 0, completed: 0 } : `unreadable: ${(err as Error).message}`;
    }
    try {
        const queue = JSON.parse(text);
        for (const list of ['pending', 'uploading', 'completed', 'failed']) {
            if (!Array.isArray(queue[list])) return `${list} is not a list`;
        }
        return { pending: queue.pending.length, uploading: queue.uploading.length, completed: queue.completed.length };
    } catch (err) {
        return `not JSON: ${(err as Error).message}`;
    }
}

async function waitForDrain(boatRed: RunningNodeRed, queueFile: string, exportId: string, ms = 120000): Promise<{ failed_count: number }> {
    const deadline = Date.now() + ms;
    for (;;) {
        const status = await (await fetch(`${boatRed.url}/export/queue/status`)).json().catch(() => undefined);
        const queue = JSON.parse(fs.readFileSync(queueFile, 'utf8'));
        const done = queue.completed.some((entry: { export_id: string }) => entry.export_id === exportId);
        if (status && done && status.pending_count === 0 && status.uploading_count === 0) return status;
        if (Date.now() > deadline) throw new Error(`the queue did not drain within ${ms / 1000} s: ${JSON.stringify(status)}`);
        await sleep(250);
    }
}

/** Every boatlog row the central side holds for the installation, page by page. */
async function centralBoatlog(central: RunningNodeRed, installationId: string): Promise<Array<{ entry_id: unknown }>> {
    const rows: Array<{ entry_id: unknown }> = [];
    for (let offset = 0; ;) {
        const page = await (await fetch(`${central.url}/api/v1/installations/${installationId}/boatlog?offset=${offset}&limit=100000`)).json();
        if (!Array.isArray(page.entries)) throw new Error(`the central side did not answer with rows: ${JSON.stringify(page)}`);
        rows.push(...page.entries);
        if (page.next_offset === undefined) return rows;
        offset = page.next_offset;
    }
}

function boatlogIds(dbFile: string): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(dbFile, sqlite3.OPEN_READONLY, (err) => {
            if (err) return reject(err);
            db.all('SELECT entry_id FROM boatlog_entries ORDER BY rowid', (err2, rows: Array<{ entry_id: unknown }>) => db.close(() => (err2 ? reject(err2) : resolve(rows.map((r) => r.entry_id)))));
        });
    });
}

/** The boatlog service of a boat under way: this same script with --writer, in its own process. */
function startWriter(dbFile: string): ChildProcess {
    const args = __filename.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs'), __filename] : [__filename];
    return spawn(process.execPath, [...args, '--writer', dbFile], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** SIGTERM lets the writer finish the row it is writing, so no hot journal is left for the read-only exporter. */
async function stopWriter(writer: ChildProcess): Promise<void> {
    if (writer.exitCode !== null || writer.signalCode !== null) return;
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    writer.kill('SIGTERM');
    await exited;
}

async function writeBoatlogUntilStopped(dbFile: string): Promise<void> {
    let stopping = false;
    process.on('SIGTERM', () => (stopping = true));
    while (!stopping) {
        await appendBoatlogRows(dbFile, 1 + Math.floor(Math.random() * 5));
        await sleep(20 + Math.random() * 60);
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseKills(args: string[]): number {
    const at = args.indexOf('--kills');
    const value = at >= 0 ? Number(args[at + 1]) : 200;
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--kills needs a whole number ≥ 1, not ${JSON.stringify(args[at + 1])}`);
    return value;
}

if (require.main === module) {
    const args = process.argv.slice(2);
    const main =
        args[0] === '--writer'
            ? writeBoatlogUntilStopped(args[1]).then(() => 0)
            : runCrashTest({ kills: parseKills(args), keep: args.includes('--keep'), log: (line) => console.log(line) }).then((result) => {
                  console.log(JSON.stringify(result, null, 2));
                  console.log(
                      result.ok
                          ? `PASS: ${result.kills} kills; all ${result.rows_on_boat} boatlog rows stored centrally exactly once; the queue loaded after every kill`
                          : `FAIL: ${result.missing} missing, ${result.unexpected} unexpected, ${result.duplicates} duplicated, ${result.unloadable_queues.length} unloadable queue(s)`,
                  );
                  return result.ok ? 0 : 1;
              });
    main.then(
        (code) => process.exit(code),
        (err) => {
            console.error(err);
            process.exit(2);
        },
    );
}
