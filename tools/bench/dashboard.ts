import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chromium, Page } from 'playwright-core';
import { buildDemoBoat } from '../demo-boat';
import { packageRoot, RunningNodeRed, startNodeRed } from '../node-red-runtime';
import { BenchFigure } from './figures';

/**
 * The Data Management page on a demo boat, in headless Chromium at the
 * helm's 1280×800: how long until the page shows the boat's data, and how
 * long "Export All Data Now" takes from the tap to the result on screen,
 * against the same export asked of the REST API directly.
 */

const PAGE_LOADS = 5;
const EXPORTS = 3;
/** Every section has drawn what it read: queue counts, the last backup line, the disk line. */
const DATA_SHOWN = `(() => {
    const count = document.querySelector('[data-test="count-pending"] strong');
    const backup = document.querySelector('[data-test="last-backup"]');
    const disk = document.querySelector('[data-test="disk"]');
    return !!count && count.textContent.trim() !== '–' && !!backup && /\\d|none/.test(backup.textContent) && !!disk;
})()`;

export async function run(log: (line: string) => void): Promise<BenchFigure[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-bench-dashboard-'));
    let nodeRed: RunningNodeRed | undefined;
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
        log('building a demo boat: 5,000 boatlog rows, 100,000 telemetry rows, 200 recordings');
        const boat = await buildDemoBoat({
            root: path.join(dir, 'boat'),
            mediaDir: path.join(dir, 'camera-recordings'),
            backupDir: path.join(dir, 'backups'),
            tier: 2,
            boatlogRows: 5000,
            telemetryRows: 100000,
            mediaFiles: 200,
        });
        const flows = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'flows', 'boat.json'), 'utf8'));
        nodeRed = await startNodeRed({
            userDir: path.join(dir, 'node-red'),
            flows,
            // Central out of reach and an hourly poll: no upload runs while the page is measured.
            env: { D3KOS_ROOT: boat.root, D3KOS_MEDIA_DIR: boat.mediaDir, D3KOS_BACKUP_DIR: boat.backupDir, D3KOS_CENTRAL_URL: 'http://127.0.0.1:9', D3KOS_QUEUE_POLL_S: '3600' },
            quiet: true,
        });
        const url = `${nodeRed.url}/dashboard/data`;

        const loads: number[] = [];
        for (let i = 0; i < PAGE_LOADS; i++) {
            // A fresh browser context each time: nothing cached, as after the helm display is switched on.
            const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
            const page = await context.newPage();
            const start = performance.now();
            await page.goto(url);
            await page.waitForFunction(DATA_SHOWN, undefined, { timeout: 30000, polling: 20 });
            loads.push(performance.now() - start);
            await context.close();
        }
        log(`page loads (ms): ${loads.map((ms) => ms.toFixed(0)).join(', ')}`);

        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(url);
        await page.waitForFunction(DATA_SHOWN, undefined, { timeout: 30000 });
        const taps: number[] = [];
        for (let i = 0; i < EXPORTS; i++) taps.push(await exportByTouch(page));
        log(`Export All Data Now, tap to result (ms): ${taps.map((ms) => ms.toFixed(0)).join(', ')}`);

        const direct: number[] = [];
        for (let i = 0; i < EXPORTS; i++) {
            const start = performance.now();
            const res = await fetch(`${nodeRed.url}/export/generate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"mode":"full"}' });
            if (!res.ok) throw new Error(`POST /export/generate answered ${res.status}: ${await res.text()}`);
            await res.text();
            direct.push(performance.now() - start);
        }
        log(`POST /export/generate straight to the API (ms): ${direct.map((ms) => ms.toFixed(0)).join(', ')}`);

        const tap = median(taps);
        const api = median(direct);
        return [
            { name: "dashboard: page opened to the boat's data shown (median of 5, cold)", value: Math.round(median(loads)), unit: 'ms' },
            {
                name: 'dashboard: "Export All Data Now" tap to result shown (median of 3)',
                value: Math.round(tap),
                unit: 'ms',
                reference: 'POST /export/generate to the REST API directly, same boat (median of 3)',
                ratio: tap / api,
            },
        ];
    } finally {
        await browser.close();
        await nodeRed?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Taps the button and waits until the result names an export id it did not show before. */
async function exportByTouch(page: Page): Promise<number> {
    const shown = page.locator('[data-test="export-result"]');
    const before = (await shown.count()) > 0 ? ((await shown.textContent()) ?? '') : '';
    const start = performance.now();
    await page.getByRole('button', { name: 'Export All Data Now' }).click();
    await page.waitForFunction(
        `(() => { const r = document.querySelector('[data-test="export-result"]'); return !!r && /export_\\d{8}/.test(r.textContent) && r.textContent !== ${JSON.stringify(before)}; })()`,
        undefined,
        { timeout: 120000, polling: 20 },
    );
    return performance.now() - start;
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
