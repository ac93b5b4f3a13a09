import { strict as assert } from 'node:assert';
import type { Browser } from 'playwright-core';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { demoBoat, startBoat } from '../e2e/harness';
import { DataPage, launchChromium, openDataPage, screenshot, smallTouchTargets } from './browser';

/** An address nothing listens on: a tier 0 boat never uploads anyway. */
const UNREACHABLE = 'http://127.0.0.1:9';

describe('the Data Management page on a tier 0 boat (seed 000 Test 4 and 6)', function () {
    this.timeout(90000);
    let scratch: { dir: string; remove: () => void };
    let nodeRed: RunningNodeRed;
    let browser: Browser;
    let data: DataPage;

    before(async () => {
        scratch = scratchFolder('browser-tier0');
        const boat = await demoBoat(scratch.dir, { tier: 0 });
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: UNREACHABLE });
        browser = await launchChromium();
        data = await openDataPage(browser, nodeRed);
    });

    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('says plainly that export needs Tier 1 and that this boat is on Tier 0', async () => {
        const upgrade = data.page.locator('[data-test="upgrade"]');
        await upgrade.waitFor();
        const text = await upgrade.innerText();
        assert.match(text, /needs Tier 1 or higher/);
        assert.match(text, /Tier 0/);
        await screenshot(data.page, 'tier0');
    });

    it('has no export control anywhere: no export, queue or retry button, not even a disabled one', async () => {
        const buttons = await data.page.locator('button, a[href]').allInnerTexts();
        assert.ok(buttons.length > 0, 'the page shows no control at all');
        const exportish = buttons.filter((label) => /export|upload|queue|retry/i.test(label));
        assert.deepEqual(exportish, [], `export controls on a tier 0 page: ${exportish.join(', ')}`);
        assert.equal(await data.page.locator('[data-test="export"], [data-test="queue"]').count(), 0);
    });

    it('still offers the boat owner backups and the camera storage', async () => {
        await data.page.getByRole('button', { name: 'Create Backup Now' }).waitFor();
        await data.page.getByRole('button', { name: 'Clean up now' }).waitFor();
    });

    it('never asks the export or queue endpoints anything, through a whole poll cycle', async () => {
        await data.page.waitForTimeout(3500);
        const asked = data.requests.filter((r) => / \/export\//.test(r));
        assert.deepEqual(asked, []);
        assert.ok(data.requests.filter((r) => r === 'GET /tier/status').length >= 2, 'the tier is read again on every poll');
    });

    it('keeps every control at least 48 px for a wet fingertip', async () => {
        assert.deepEqual(await smallTouchTargets(data.page), []);
    });

    it('raised no script error', () => {
        assert.deepEqual(data.scriptErrors, []);
    });
});
