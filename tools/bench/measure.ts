import { execFileSync } from 'child_process';
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
