import { ChildProcess, spawn } from 'child_process';

/** One row the writer tried: when its INSERT began and when its commit returned (ms since the epoch), or why it failed. */
export interface WrittenRow {
    entry_id: string;
    began: number;
    committed?: number;
    error?: string;
}

export interface LiveWriter {
    /** Rows tried so far. */
    rows: WrittenRow[];
    /** Stops after the row being written; resolves with every row tried. */
    stop(): Promise<WrittenRow[]>;
    process: ChildProcess;
}

/**
 * Another program writing to a boat database, as the boatlog service does:
 * its own process and its own connection, kept open the whole time, one
 * boatlog row every `everyMs`, each in its own transaction, waiting up to
 * 60 s for a lock as a well-behaved service would. It reports each row when
 * its commit has returned.
 */
export function startLiveWriter(dbFile: string, prefix: string, everyMs = 10): Promise<LiveWriter> {
    const script = `
        const sqlite3 = require(${JSON.stringify(require.resolve('sqlite3'))});
        const db = new sqlite3.Database(process.argv[1]);
        db.configure('busyTimeout', 60000);
        let n = 0, stopping = false;
        process.stdin.on('data', () => { stopping = true; });
        process.stdin.on('end', () => { stopping = true; });
        function next() {
            if (stopping) { db.close(() => process.exit(0)); return; }
            const id = process.argv[2] + '-' + (++n);
            const began = Date.now();
            db.run("INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content) VALUES (?, ?, 'text', 'written by another process')",
                [id, new Date().toISOString()], (err) => {
                    process.stdout.write(JSON.stringify(err ? { entry_id: id, began, error: err.message } : { entry_id: id, began, committed: Date.now() }) + '\\n');
                    setTimeout(next, ${everyMs});
                });
        }
        process.stdout.write('ready\\n');
        next();
    `;
    const child = spawn(process.execPath, ['-e', script, dbFile, prefix], { stdio: ['pipe', 'pipe', 'inherit'] });
    const rows: WrittenRow[] = [];
    let buffered = '';
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
        child.once('error', reject);
        child.stdout!.on('data', (chunk: Buffer) => {
            buffered += chunk.toString('utf8');
            let nl: number;
            while ((nl = buffered.indexOf('\n')) >= 0) {
                const line = buffered.slice(0, nl);
                buffered = buffered.slice(nl + 1);
                if (line === 'ready') {
                    resolve({
                        rows,
                        process: child,
                        stop: async () => {
                            child.stdin!.end('stop\n');
                            await exited;
                            return rows;
                        },
                    });
                } else if (line.trim()) rows.push(JSON.parse(line));
            }
        });
    });
}

/** Waits until the writer has committed `count` more rows than it had. */
export async function waitForRows(writer: LiveWriter, count: number): Promise<void> {
    const target = writer.rows.filter((r) => r.committed).length + count;
    const deadline = Date.now() + 20000;
    while (writer.rows.filter((r) => r.committed).length < target) {
        if (Date.now() > deadline) throw new Error(`the writer did not commit ${count} rows in 20 s`);
        await new Promise((r) => setTimeout(r, 20));
    }
}
