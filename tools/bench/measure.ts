import { execFileSync, spawn } from 'child_process';
import { monitorEventLoopDelay } from 'perf_hooks';

/** Wall time of a shell pipeline, best of `runs` (the reference side of a ratio). */
export function timeShell(command: string, runs = 3): number {
    let best = Infinity;
    for (let i = 0; i < runs; i++) {
        const start = process.hrtime.bigint();
        execFileSync('bash', ['-o', 'pipefail', '-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
        best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
    }
    return best;
}

export interface Watched<T> {
    result: T;
    ms: number;
    peakRssAboveIdleMb: number;
    longestStallMs: number;
}

/**
 * Runs `work` while sampling this process's RSS and the event loop's delay:
 * the longest stall is how long a timer (the dashboard's heartbeat, say) was
 * held up beyond its due time.
 */
export async function watch<T>(work: () => Promise<T>): Promise<Watched<T>> {
    global.gc?.();
    await new Promise((r) => setTimeout(r, 200));
    const idle = process.memoryUsage().rss;
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const start = process.hrtime.bigint();
    const result = await work();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    delay.disable();
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    // monitorEventLoopDelay reports in nanoseconds and includes the sampling resolution itself.
    const longestStallMs = Math.max(0, delay.max / 1e6 - 5);
    return { result, ms, peakRssAboveIdleMb: (peak - idle) / 1024 / 1024, longestStallMs };
}

export interface OutsideProbe {
    /** Answers recorded, the worst and the 99th percentile answer time, in ms. */
    count: number;
    worstMs: number;
    p99Ms: number;
    /** Requests that failed outright (refused, reset). */
    errors: number;
}

/**
 * Polls `url` from a separate process every `everyMs` (the next request goes
 * out on the next tick after the answer), as a monitoring script or the
 * dashboard would see Node-RED: every answer time includes the event loop of
 * the Node-RED under test, its HTTP stack and the status computation. Call
 * the returned stop() to end it and get the figures.
 */
export async function probeFromOutside(url: string, everyMs = 20): Promise<{ stop: () => Promise<OutsideProbe> }> {
    const script = `
        const http = require('http');
        const [url, every] = [process.argv[1], Number(process.argv[2])];
        const times = [];
        let errors = 0, stopping = false, first = true;
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        function ask() {
            if (stopping) return;
            const started = process.hrtime.bigint();
            const next = () => {
                const took = Number(process.hrtime.bigint() - started) / 1e6;
                setTimeout(ask, Math.max(0, every - took));
            };
            http.get(url, { agent }, (res) => {
                res.resume();
                res.on('end', () => {
                    times.push(Number(process.hrtime.bigint() - started) / 1e6);
                    if (first) { first = false; process.stdout.write('ready\\n'); }
                    next();
                });
            }).on('error', () => { errors++; next(); });
        }
        process.stdin.on('data', () => {
            stopping = true;
            process.stdout.write(JSON.stringify({ times, errors }) + '\\n');
            process.exit(0);
        });
        ask();
    `;
    const child = spawn(process.execPath, ['-e', script, url, String(everyMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    await new Promise<void>((resolve, reject) => {
        const check = setInterval(() => {
            if (out.includes('ready\n')) {
                clearInterval(check);
                resolve();
            }
        }, 5);
        child.once('exit', (code) => {
            clearInterval(check);
            reject(new Error(`the /health poller exited with ${code}`));
        });
    });
    return {
        stop: async () => {
            const exited = new Promise((resolve) => child.once('exit', resolve));
            child.stdin!.write('stop\n');
            await exited;
            const { times, errors } = JSON.parse(out.slice(out.indexOf('ready\n') + 6).trim()) as { times: number[]; errors: number };
            const sorted = times.slice().sort((a, b) => a - b);
            return {
                count: sorted.length,
                worstMs: sorted.at(-1) ?? 0,
                p99Ms: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0,
                errors,
            };
        },
    };
}
