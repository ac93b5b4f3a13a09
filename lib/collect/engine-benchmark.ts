import * as path from 'path';
import { Collector, readJsonSource, writeRowCategory } from './context';

/**
 * Engine benchmark runs from benchmark-results.json (older boats keep them in
 * data/engine-benchmark.json): each test run is an entry, the baseline goes in data.
 */
export const collectEngineBenchmark: Collector = (context, out) =>
    writeRowCategory('engine_benchmark', out, async (entries) => {
        for (const file of context.layout.benchmarkResults) {
            const results = await readJsonSource(file);
            if (results === undefined) continue;
            if (Array.isArray(results)) {
                await entries.addValues(results);
                return {};
            }
            const tests = (results as { tests?: unknown }).tests;
            if (typeof results !== 'object' || results === null || (tests !== undefined && !Array.isArray(tests))) {
                throw new Error(`${path.basename(file)} does not hold benchmark results ({tests: [...], baseline})`);
            }
            await entries.addValues((tests as unknown[]) ?? []);
            const baseline = (results as { baseline?: unknown }).baseline;
            return baseline === undefined ? {} : { data: { baseline } };
        }
        return {};
    });
