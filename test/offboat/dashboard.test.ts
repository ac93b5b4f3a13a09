import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import type { DemoBoat } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { demoBoat, startBoat } from '../e2e/harness';
import { DataPage, launchChromium, openDataPage, screenshot } from '../browser/browser';

describe('encrypted backups and the off-boat copy on the Data Management page', function () {
    this.timeout(120000);
    let scratch: { dir: string; remove: () => void };
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;
    let browser: Browser;
    let data: DataPage;

    before(async () => {
        scratch = scratchFolder('browser-offboat');
        boat = await demoBoat(scratch.dir, { tier: 2 });
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: 'http://127.0.0.1:9' });
        browser = await launchChromium();
        data = await openDataPage(browser, nodeRed);
    });
    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('says plainly that backups are not encrypted, shows a new recovery key once with its QR code, then says they are', async () => {
        const state = data.page.locator('[data-test="encryption-state"]');
        await state.filter({ hasText: 'NOT encrypted' }).waitFor({ timeout: 20000 });
        await data.page.locator('[data-test="make-recovery-key"]').click();
        const shown = data.page.locator('[data-test="recovery-key-text"]');
        await shown.waitFor({ timeout: 20000 });
        const key = (await shown.innerText()).trim();
        assert.match(key, /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
        assert.equal(await data.page.locator('[data-test="recovery-key-qr"] svg').count(), 1);
        await screenshot(data.page, 'recovery-key-shown');
        await data.page.locator('[data-test="recovery-key-done"]').click();
        assert.equal(await shown.count(), 0);
        await state.filter({ hasText: 'Backups are encrypted' }).waitFor({ timeout: 20000 });
        assert.ok(!(await data.page.content()).includes(key), 'the page still holds the key after "I have stored it"');

        await data.page.getByRole('button', { name: 'Create Backup Now' }).click();
        await data.page.locator('[data-test="backup-message"]', { hasText: 'Backup made' }).waitFor({ timeout: 60000 });
        const row = data.page.locator('[data-test="backups"] li.d3-backup').first();
        assert.match(await row.innerText(), /· encrypted/);
        assert.ok(fs.readdirSync(boat.backupDir).some((name) => name.endsWith('.tar.gz.age')));
    });

    it('the copy-off-the-boat choice is sent and remembered', async () => {
        await data.page.locator('[data-test="offboat-mode"]').getByRole('button', { name: 'Once a week' }).click();
        await data.page.locator('[data-test="offboat-message"]', { hasText: 'every Sunday' }).waitFor({ timeout: 20000 });
        assert.equal(JSON.parse(fs.readFileSync(path.join(boat.root, 'offboat', 'state.json'), 'utf8')).mode, 'weekly');
        assert.equal(await data.page.locator('[data-test="offboat-mode"] button[aria-pressed="true"]').innerText(), 'Once a week');
    });
});
