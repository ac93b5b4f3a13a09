import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import type { DemoBoat } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { demoBoat, startBoat, startCentral } from '../e2e/harness';
import { DataPage, launchChromium, openDataPage, screenshot } from './browser';

// A real refusal: the central ingest runs in token mode and does not know this boat's device token
// yet, so it answers 401 and the upload fails at once. The operator then adds the token (the ingest
// reads devices.json on every upload) and the boat owner taps "Retry failed".

const DEVICE_TOKEN = 'browser-test-device-token-7f3a';

describe('retrying failed uploads from the Data Management page', function () {
    this.timeout(120000);
    let scratch: { dir: string; remove: () => void };
    let boat: DemoBoat;
    let central: RunningNodeRed;
    let nodeRed: RunningNodeRed;
    let browser: Browser;
    let data: DataPage;
    let exportId: string;

    before(async () => {
        scratch = scratchFolder('browser-retry');
        boat = await demoBoat(scratch.dir, { tier: 1 });
        central = await startCentral(scratch.dir, { D3KOS_INGEST_MODE: 'tokens' });
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: central.url, deviceToken: DEVICE_TOKEN });
        browser = await launchChromium();
        data = await openDataPage(browser, nodeRed);
    });

    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
        await central?.stop();
        scratch?.remove();
    });

    it('an upload the central database refuses shows as failed, with its reason', async () => {
        await data.page.getByRole('button', { name: 'Export All Data Now' }).click();
        const result = await data.page.locator('[data-test="export-result"]').innerText({ timeout: 30000 });
        exportId = /export_\d{8}_\d{6}_\d{3}_[0-9a-f]{4}/.exec(result)?.[0] ?? '';
        assert.ok(exportId, result);
        // The export is two uploads, its urgent part and its -bulk part (docs/link.md): both fail.
        const item = data.page.locator('[data-test="queue-items"] li[data-state="failed"]', { hasText: exportId }).first();
        await item.waitFor({ timeout: 20000 });
        assert.match(await item.innerText(), /401|not known|token/i);
        await data.page.waitForFunction(() => document.querySelector('[data-test="count-failed"] strong')?.textContent?.trim() === '2');
        assert.equal(await data.page.getByRole('button', { name: 'Retry failed' }).isEnabled(), true);
        await screenshot(data.page, 'upload-failed');
    });

    it("the status strip says, with no tap, that this boat's device token is refused", async () => {
        await data.page.locator('[data-test="strip-link-reason"]', { hasText: 'This boat’s device token is refused' }).waitFor({ timeout: 10000 });
        assert.equal((await data.page.locator('[data-test="strip-link-state"]').innerText()).trim(), 'Refused');
        assert.match((await data.page.locator('[data-test="strip-link"]').getAttribute('class')) ?? '', /d3-critical/);
        await screenshot(data.page, 'strip-token-refused');
    });

    it('"Retry failed" sends it again and, now that the ingest knows the boat, the history shows it', async () => {
        fs.writeFileSync(path.join(scratch.dir, 'central-data', 'devices.json'), JSON.stringify({ [DEVICE_TOKEN]: boat.installationId }));
        await data.page.getByRole('button', { name: 'Retry failed' }).click();
        await data.page.locator('[data-test="history"] li', { hasText: exportId }).first().waitFor({ timeout: 30000 });
        await data.page.waitForFunction(() => document.querySelector('[data-test="count-failed"] strong')?.textContent?.trim() === '0');
        assert.equal(await data.page.getByRole('button', { name: 'Retry failed' }).isDisabled(), true, 'nothing is left to retry');
        await screenshot(data.page, 'retried');
    });

    it('shows neither the device token nor any other secret', async () => {
        const html = await data.page.content();
        for (const secret of [DEVICE_TOKEN, ...boat.secrets]) assert.ok(!html.includes(secret), 'a secret appeared on the page');
    });

    it('raised no script error', () => {
        assert.deepEqual(data.scriptErrors, []);
    });
});
