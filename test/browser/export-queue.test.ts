import { strict as assert } from 'node:assert';
import type { Browser } from 'playwright-core';
import type { DemoBoat } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { call, demoBoat, startBoat, waitFor } from '../e2e/harness';
import { countControls, DataPage, launchChromium, openDataPage, screenshot, smallTouchTargets, startCentralOn } from './browser';
import { freePort } from '../../tools/node-red-runtime';
import { readExport, exportFileOf } from '../support/exports';

// Seed 000 Test 4 on a tier 2 boat: export -> result -> queue -> process -> history, all by touch.
// The central database is switched off at first (nothing listens on its port), so the export
// waits in the queue where the page can show it; the queue polls only hourly here, so the
// upload that follows is the one "Process Queue Now" asked for.

describe('exporting and uploading from the Data Management page (tier 2 boat)', function () {
    this.timeout(120000);
    let scratch: { dir: string; remove: () => void };
    let boat: DemoBoat;
    let centralPort: number;
    let central: RunningNodeRed | undefined;
    let nodeRed: RunningNodeRed;
    let browser: Browser;
    let data: DataPage;
    let exportId: string;

    before(async () => {
        scratch = scratchFolder('browser-export');
        boat = await demoBoat(scratch.dir, { tier: 2 });
        centralPort = await freePort();
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: `http://127.0.0.1:${centralPort}`, env: { D3KOS_QUEUE_POLL_S: '3600' } });
        browser = await launchChromium();
        data = await openDataPage(browser, nodeRed);
    });

    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
        await central?.stop();
        scratch?.remove();
    });

    it('shows the export controls, the queue and the nine categories with the photos-stay-aboard note', async () => {
        await data.page.getByRole('button', { name: 'Export All Data Now' }).waitFor();
        await data.page.getByRole('button', { name: 'Process Queue Now' }).waitFor();
        await data.page.getByRole('button', { name: 'Retry failed' }).waitFor();
        assert.equal(await data.page.locator('.d3-categories li').count(), 9);
        assert.match(await data.page.locator('[data-test="export-contents"]').innerText(), /Photos and videos stay on the boat/);
        await screenshot(data.page, 'tier2');
    });

    it('"Export All Data Now" shows progress, keeps the page live, then shows the export id, N/9 categories and the size', async () => {
        // The answer is held back 5 s on its way to the page, as a large export's would be.
        await data.page.route('**/export/generate', async (route) => {
            const response = await route.fetch();
            await new Promise((r) => setTimeout(r, 5000));
            await route.fulfill({ response });
        });
        const polls = () => data.requests.filter((r) => r === 'GET /export/queue/status').length;
        await data.page.getByRole('button', { name: 'Export All Data Now' }).click();
        const button = data.page.getByRole('button', { name: /^Exporting/ });
        await button.waitFor();
        assert.equal(await button.isDisabled(), true, 'a second tap while exporting would start a second export');
        assert.equal(await data.page.getByRole('progressbar', { name: 'Export in progress' }).isVisible(), true);
        await screenshot(data.page, 'exporting');
        // Still live: the queue is read again on its 3 s poll, and the other buttons still answer a tap.
        const pollsBefore = polls();
        await waitFor('the queue to be read again while the export runs', async () => polls() > pollsBefore, 4000);
        assert.equal(await button.isVisible(), true, 'the export finished too soon to show the page stays live');
        assert.equal(await data.page.getByRole('button', { name: 'Process Queue Now' }).isEnabled(), true);

        const result = data.page.locator('[data-test="export-result"]');
        await result.waitFor({ timeout: 30000 });
        await data.page.unroute('**/export/generate');
        const text = await result.innerText();
        exportId = /export_\d{8}_\d{6}_\d{3}_[0-9a-f]{4}/.exec(text)?.[0] ?? '';
        assert.ok(exportId, text);
        const file = readExport(exportFileOf(boat.layout.exportFilesDir, exportId)).json;
        assert.match(text, new RegExp(`Categories with data\\s+${file.statistics.categories_with_data}/9`));
        assert.match(text, /Size\s+[\d.]+ (bytes|KB|MB)/);
        await screenshot(data.page, 'export-result');
    });

    it('the queue shows the export waiting, with its attempts, while the central database is switched off', async () => {
        // The export is two uploads, its urgent part and its -bulk part (docs/link.md): both are listed.
        const item = data.page.locator('[data-test="queue-items"] li', { hasText: exportId }).first();
        await item.waitFor();
        assert.match((await item.getAttribute('data-state')) ?? '', /pending|uploading/);
        assert.match(await item.innerText(), /attempt|first upload/i);
        await data.page.waitForFunction(() => document.querySelector('[data-test="count-pending"] strong')?.textContent?.trim() === '2');
        await screenshot(data.page, 'export-queued');
    });

    it('an export made elsewhere (a script calling the REST API) appears on the page by itself', async () => {
        const made = await call(nodeRed, 'POST', '/export/generate');
        assert.equal(made.status, 200, made.text);
        await data.page.locator('[data-test="queue-items"] li', { hasText: made.json.export_id }).first().waitFor({ timeout: 10000 });
        await data.page.waitForFunction(() => document.querySelector('[data-test="count-pending"] strong')?.textContent?.trim() === '4');
    });

    it('"Process Queue Now" uploads them once the central database is on, and the history shows them', async () => {
        central = await startCentralOn(scratch.dir, centralPort);
        await data.page.getByRole('button', { name: 'Process Queue Now' }).click();
        await data.page.locator('[data-test="history"] li', { hasText: exportId }).first().waitFor({ timeout: 30000 });
        await waitFor('the queue on the page to be empty', async () => (await data.page.locator('[data-test="count-pending"] strong').innerText()).trim() === '0');
        const rows = await call(central, 'GET', `/api/v1/installations/${boat.installationId}/boatlog`);
        assert.equal(rows.status, 200, rows.text);
        await screenshot(data.page, 'uploaded');
    });

    it('every button and link is at least 48 × 48 px, and the main actions need no scrolling', async () => {
        assert.ok((await countControls(data.page)) >= 5);
        assert.deepEqual(await smallTouchTargets(data.page), []);
        for (const name of ['Export All Data Now', 'Process Queue Now', 'Retry failed', 'Create Backup Now', 'Clean up now']) {
            const box = await data.page.getByRole('button', { name }).boundingBox();
            assert.ok(box && box.y >= 0 && box.y + box.height <= 800, `${name} is off the 800 px screen (${JSON.stringify(box)})`);
        }
    });

    it('shows no secret planted on the boat', async () => {
        const html = await data.page.content();
        for (const secret of boat.secrets) assert.ok(!html.includes(secret), 'a secret appeared on the page');
    });

    it('raised no script error', () => {
        assert.deepEqual(data.scriptErrors, []);
    });
});
