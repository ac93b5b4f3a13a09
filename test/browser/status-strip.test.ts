import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import type { Browser } from 'playwright-core';
import type { DemoBoat } from '../../tools/demo-boat';
import { freePort, RunningNodeRed } from '../../tools/node-red-runtime';
import { call, demoBoat, startBoat, waitFor } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { clippedButtons, DataPage, KIOSK, launchChromium, openDataPage, screenshot, SECOND_SCREEN, smallTouchTargets } from './browser';

// The status strip at the top of the Data Management page, on the helm touchscreen (1280 × 800) and on the
// 800 × 480 second screen: read without a tap, every figure as the REST answers give it, problems as notices.
// The central database is out of reach throughout (nothing listens on its port).

const SIZES = [
    { name: '1280x800', viewport: KIOSK },
    { name: '800x480', viewport: SECOND_SCREEN },
];
const JSON_BODY = { headers: { 'Content-Type': 'application/json' }, body: '{}' };

/** The page's way of writing a size, for comparing the strip with the REST answers' byte counts. */
function bytes(n: number): string {
    const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
        n /= 1024;
        i++;
    }
    return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

describe('the status strip of the Data Management page, at 1280 × 800 and 800 × 480', function () {
    this.timeout(180000);
    let scratch: { dir: string; remove: () => void };
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;
    let browser: Browser;

    before(async () => {
        scratch = scratchFolder('browser-strip');
        boat = await demoBoat(scratch.dir, { tier: 2 });
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: `http://127.0.0.1:${await freePort()}`, env: { D3KOS_QUEUE_POLL_S: '3600' } });
        assert.equal((await call(nodeRed, 'POST', '/export/generate', JSON_BODY)).status, 200);
        assert.equal((await call(nodeRed, 'POST', '/api/backup/create', JSON_BODY)).status, 200);
        await waitFor('the queue to know the central database is out of reach', async () => (await call(nodeRed, 'GET', '/export/queue/status')).json.shore_link.state === 'out-of-reach');
        browser = await launchChromium();
    });

    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
        scratch?.remove();
    });

    for (const size of SIZES) {
        describe(`at ${size.name}`, () => {
            let data: DataPage;

            before(async () => {
                data = await openDataPage(browser, nodeRed, size.viewport);
                await data.page.locator('[data-test="strip-link-state"]', { hasText: 'Out of reach' }).waitFor({ timeout: 20000 });
                await data.page.locator('[data-test="strip-disk-data"]').waitFor();
                await data.page.locator('[data-test="strip-newest-backup"]', { hasText: 'Newest' }).waitFor({ timeout: 20000 });
            });

            after(async () => {
                await data?.page.close();
            });

            it('shows the central database out of reach with its reason in words, with no tap, and never a socket error', async () => {
                assert.deepEqual(
                    data.requests.filter((r) => r.startsWith('POST') && !r.includes('/socket.io/')),
                    [],
                    'nothing was tapped',
                );
                assert.equal((await data.page.locator('[data-test="strip-link-reason"]').innerText()).trim(), 'The central server does not answer');
                assert.equal(await data.page.locator('[data-test="strip-link-reason"]').isVisible(), true);
                const text = await data.page.locator('body').innerText();
                assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1|connect E/);
                await screenshot(data.page, `strip-out-of-reach-${size.name}`);
            });

            it("the strip's figures are the REST answers' figures", async () => {
                const queue = (await call(nodeRed, 'GET', '/export/queue/status')).json;
                const health = (await call(nodeRed, 'GET', '/health')).json;
                const tier = (await call(nodeRed, 'GET', '/tier/status')).json;
                const list = (await call(nodeRed, 'GET', '/api/backup/list')).json;
                const strip = async (test: string) => (await data.page.locator(`[data-test="${test}"]`).innerText()).replace(/\s+/g, ' ').trim();

                const waiting = queue.shore_link;
                assert.equal(waiting.waiting_exports, 1);
                assert.match(await strip('strip-waiting'), new RegExp(`^1 export waits \\(${bytes(waiting.waiting_bytes).replace('.', '\\.')}\\)`));
                assert.match(await strip('strip-last-confirmed'), /No upload confirmed yet/);
                assert.equal(await strip('strip-tier'), `Tier ${tier.tier}`);
                assert.match(await strip('strip-next-export'), /^Next export (today|tomorrow|\w{3} \d{1,2} \w{3}) 03:00$/);
                assert.ok(tier.next_scheduled_export, 'GET /tier/status tells the next scheduled export');
                assert.match(await strip('strip-backup-encrypted'), list.backups[0].encrypted ? /· encrypted/ : /· not encrypted/);
                assert.match(await strip('strip-next-backup'), list.next_automatic_at ? /^Next automatic/ : /^Automatic backups are off$/);
                assert.match(await strip('strip-proven'), /Not proven restorable yet|proven restorable/i);
                assert.match(await strip('strip-offboat'), /No copy off the boat yet/);
                // Free space moves while other programs write (this machine is shared): the strip shows /health's figure of its last poll.
                await waitFor("the strip's free space to be /health's", async () => {
                    const disks = (await call(nodeRed, 'GET', '/health')).json.disks;
                    for (const disk of disks) {
                        if (!(await strip(`strip-disk-${disk.folder}`)).includes(`${bytes(disk.free_bytes)} free`)) return false;
                    }
                    return disks.length === 3;
                });
                if (size.viewport.height > 600) assert.equal(await strip('strip-version'), `d3kOS data ${health.version}`);
                // The link settings (GET /api/link) show where the boat has them, and are left out where the route answers 404.
                const link = await call(nodeRed, 'GET', '/api/link');
                await waitFor('the link settings to be shown as the route answers', async () => (await data.page.locator('[data-test="link-kind"]').count()) === (link.status === 404 ? 0 : 1));
                assert.equal(health.version, JSON.parse(fs.readFileSync('package.json', 'utf8')).version);
            });

            it('no button label is cut off, and every control is at least 48 × 48 px', async () => {
                assert.ok((await data.page.locator('button:visible').count()) >= 10, 'the page shows its buttons');
                assert.deepEqual(await clippedButtons(data.page), []);
                assert.deepEqual(await smallTouchTargets(data.page), []);
            });

            it('"Process Queue Now" while out of reach is a notice in words, not grey small print with a socket error', async () => {
                await data.page.getByRole('button', { name: 'Process Queue Now' }).click();
                const notice = data.page.locator('.d3-notice[data-test="queue-message"]');
                await notice.waitFor({ timeout: 20000 });
                const text = await notice.innerText();
                assert.match(text, /Nothing could be uploaded/);
                assert.match(text, /The central server does not answer/);
                assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1/);
                await notice.scrollIntoViewIfNeeded();
                await screenshot(data.page, `process-out-of-reach-${size.name}`);
            });

            it('the restore form scrolls into view when it opens', async () => {
                await data.page.getByRole('button', { name: 'Restore from the central copy' }).click();
                const form = data.page.locator('[data-test="recover-form"]');
                await form.waitFor();
                await waitFor('the form to be on the screen', async () => {
                    const box = await form.boundingBox();
                    return box !== null && box.y >= 0 && box.y < size.viewport.height - 100;
                });
                await screenshot(data.page, `recover-form-${size.name}`);
                await form.getByRole('button', { name: 'Cancel' }).click();
            });

            it('"Prove restorable" shows the drill\'s result, or says the drill is not available on this boat', async () => {
                await data.page.getByRole('button', { name: 'Prove restorable' }).click();
                const message = data.page.locator('[data-test="backup-message"]');
                await message.waitFor({ timeout: 60000 });
                const text = await message.innerText();
                assert.match(text, /restores|Not available on this boat/);
                if (/restores/.test(text)) await data.page.locator('[data-test="drill-result"]', { hasText: 'proven restorable' }).first().waitFor();
            });

            it('raised no script error', () => {
                assert.deepEqual(data.scriptErrors, []);
            });
        });
    }

    it('at 1280 × 800 the main actions are on the screen without scrolling', async () => {
        const data = await openDataPage(browser, nodeRed, KIOSK);
        try {
            await data.page.getByRole('button', { name: 'Restore from the central copy' }).waitFor();
            for (const name of [
                'Export All Data Now',
                'Process Queue Now',
                'Retry failed',
                'Create Backup Now',
                'Prove restorable',
                'Clean up now',
                'Make a recovery key',
                'Once a week',
                'Restore from the central copy',
            ]) {
                const box = await data.page.getByRole('button', { name, exact: true }).boundingBox();
                assert.ok(box && box.y >= 0 && box.y + box.height <= KIOSK.height, `${name} is below the fold (${JSON.stringify(box)})`);
            }
            await screenshot(data.page, 'readme');
        } finally {
            await data.page.close();
        }
    });

    it('with a recovery key shown, its buttons fit at both sizes; the key check answers, or says it is not available on this boat', async () => {
        const data = await openDataPage(browser, nodeRed, KIOSK);
        try {
            await data.page.locator('[data-test="make-recovery-key"]').click();
            const key = (await data.page.locator('[data-test="recovery-key-text"]').innerText({ timeout: 20000 })).trim();
            for (const size of SIZES) {
                await data.page.setViewportSize(size.viewport);
                await data.page.getByRole('button', { name: 'Print the recovery sheet' }).scrollIntoViewIfNeeded();
                assert.deepEqual(await clippedButtons(data.page), [], size.name);
                assert.deepEqual(await smallTouchTargets(data.page), [], size.name);
                await screenshot(data.page, `recovery-key-${size.name}`);
            }
            await data.page.locator('[data-test="recovery-key-done"]').click();
            await data.page.locator('[data-test="key-check-input"]').fill(key);
            await data.page.locator('[data-test="key-check-run"]').click();
            const verdict = await data.page.locator('[data-test="key-check-result"]').innerText({ timeout: 20000 });
            assert.match(verdict, /This key opens your backups|not available on this boat|No encrypted backup/);
            assert.equal(await data.page.locator('[data-test="key-check-input"]').inputValue(), '', 'the key is not kept in the field');
            await data.page.locator('[data-test="key-check-result"]').scrollIntoViewIfNeeded();
            await screenshot(data.page, 'key-check-800x480');
            assert.deepEqual(data.scriptErrors, []);
        } finally {
            await data.page.close();
        }
    });

    describe('an unreadable license.json makes /health degraded: a critical notice at the top, at both sizes', () => {
        let original: string;

        before(async () => {
            original = fs.readFileSync(boat.layout.license, 'utf8');
            fs.writeFileSync(boat.layout.license, original.slice(0, original.length / 2));
            await waitFor('/health to be degraded', async () => (await call(nodeRed, 'GET', '/health')).status === 503);
        });

        after(() => fs.writeFileSync(boat.layout.license, original));

        for (const size of SIZES) {
            it(`at ${size.name}`, async () => {
                const data = await openDataPage(browser, nodeRed, size.viewport);
                try {
                    const notice = data.page.locator('[data-test="health-notice"]').first();
                    await notice.waitFor({ timeout: 20000 });
                    assert.match((await notice.getAttribute('class')) ?? '', /d3-critical/);
                    const text = await notice.innerText();
                    assert.match(text, /This boat’s license cannot be read/);
                    assert.match(text, /Check license\.json: it is not valid JSON/);
                    assert.doesNotMatch(text, /position \d+|Unexpected|\/tmp\//, 'no parser message or path in the notice');
                    const box = await notice.boundingBox();
                    assert.ok(box && box.y + box.height <= size.viewport.height, 'the notice is on the first screen');
                    await screenshot(data.page, `license-unreadable-${size.name}`);
                    assert.deepEqual(data.scriptErrors, []);
                } finally {
                    await data.page.close();
                }
            });
        }
    });
});
