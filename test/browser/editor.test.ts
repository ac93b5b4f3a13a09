import { strict as assert } from 'node:assert';
import type { Browser, Page } from 'playwright-core';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { demoBoat, startBoat } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { launchChromium, screenshot } from './browser';

// The Node-RED editor an installer uses, in a real Chromium with the boat flow deployed: the config node has a
// name of its own, and a ${VAR} fits the fields that take one.

const LONG_VALUE = '${D3KOS_QUEUE_POLL_S}';

describe('the editor shows the nodes in words and fits ${VAR} values', function () {
    this.timeout(120000);
    let scratch: { dir: string; remove: () => void };
    let nodeRed: RunningNodeRed;
    let browser: Browser;
    let page: Page;

    before(async () => {
        scratch = scratchFolder('browser-editor');
        const boat = await demoBoat(scratch.dir, { tier: 2 });
        nodeRed = await startBoat(scratch.dir, boat, { centralUrl: 'http://127.0.0.1:9' });
        browser = await launchChromium();
        page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(nodeRed.url + '/');
        await page.waitForFunction(() => (window as any).RED?.nodes?.node?.('upload-queue') != null, null, { timeout: 60000 });
    });

    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
        scratch?.remove();
    });

    /** Opens a node's edit dialog and returns it once its fields are drawn. */
    async function edit(id: string) {
        await page.evaluate((nodeId) => {
            const RED = (window as any).RED;
            const node = RED.nodes.node(nodeId);
            if (node._def.category === 'config') RED.editor.editConfig('', node.type, node.id);
            else RED.editor.edit(node);
        }, id);
        const tray = page.locator('.red-ui-tray').last();
        await tray.locator('.red-ui-tray-body input').first().waitFor();
        return tray;
    }

    async function closeTray() {
        await page.locator('.red-ui-tray').last().getByRole('button', { name: 'Cancel' }).click();
        await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0);
    }

    it('the config node is "d3kOS boat" in the palette name, the help list and the dialog title, not "d3kos-config"', async () => {
        const label = await page.evaluate(() => {
            const RED = (window as any).RED;
            return RED.utils.getPaletteLabel('d3kos-config', RED.nodes.getType('d3kos-config'));
        });
        assert.equal(label, 'd3kOS boat');
        const tray = await edit('d3kos-boat');
        const title = await tray.locator('.red-ui-tray-titlebar').innerText();
        assert.match(title, /d3kOS boat/);
        assert.doesNotMatch(title, /d3kos-config/);
        await screenshot(page, 'editor-config');
        await closeTray();
    });

    it('the daily export schedule\'s status reads "next Tue 8 Dec 03:00": weekday, day and month in words, never 08/12', async () => {
        const text = await page.waitForFunction(() => (window as any).RED.nodes.node('daily-schedule')?.status?.text, null, { timeout: 20000 });
        assert.match(String(await text.jsonValue()), /^next (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 03:00$/);
    });

    for (const [id, fields] of [
        ['upload-queue', ['pollSeconds', 'retrySchedule', 'timeoutSeconds']],
        ['offboat-node', ['pollSeconds', 'chunkKB']],
        ['backup-node', ['keep']],
        ['daily-schedule', ['catchUpDelay']],
        ['storage-media', ['warningPercent', 'warningTargetPercent', 'criticalPercent', 'criticalTargetPercent']],
    ] as const) {
        it(`${id}: ${LONG_VALUE} fits ${fields.join(', ')}`, async () => {
            await edit(id);
            for (const field of fields) {
                const input = page.locator(`#node-input-${field}`);
                await input.fill(LONG_VALUE);
                const fit = await input.evaluate((el: HTMLInputElement) => ({
                    scroll: el.scrollWidth,
                    client: el.clientWidth,
                    right: el.getBoundingClientRect().right,
                    tray: el.closest('.red-ui-tray')!.getBoundingClientRect().right,
                }));
                assert.ok(fit.scroll <= fit.client + 1, `${field}: the value needs ${fit.scroll} px, the field is ${fit.client} px`);
                assert.ok(fit.right <= fit.tray, `${field} runs out of the dialog`);
            }
            await screenshot(page, `editor-${id}`);
            await closeTray();
        });
    }
});
