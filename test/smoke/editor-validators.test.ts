import { strict as assert } from 'node:assert';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../browser/browser';
import { RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';

// The editor's own checks, run in the real Node-RED editor in Chromium: a setting that cannot work shows red
// with the reason before deploy, and what works (including ${VAR}) passes.

describe('editor validators', function () {
    this.timeout(120000);
    let nodeRed: RunningNodeRed;
    let browser: Browser;
    let page: Page;
    let scratch: { dir: string; remove: () => void };

    before(async () => {
        scratch = scratchFolder('validators');
        nodeRed = await startNodeRed({ userDir: path.join(scratch.dir, 'node-red'), flows: [], quiet: true });
        browser = await launchChromium();
        page = await browser.newPage();
        await page.goto(nodeRed.url + '/');
        await page.waitForFunction(() => (window as any).RED?.nodes?.getType?.('d3kos-schedule')?._('schedule.label.cron') === 'Cron', undefined, { timeout: 60000 });
    });
    after(async () => {
        await browser?.close();
        await nodeRed?.stop();
        scratch?.remove();
    });

    /** What the editor's validator says of a value: true, or the reason it shows. */
    function check(type: string, property: string, values: string[]): Promise<Array<true | string>> {
        return page.evaluate(
            ({ type, property, values }) => {
                const RED = (window as any).RED;
                const def = RED.nodes.getType(type);
                // As the editor calls it: `this` is the node, whose _() reads the node's message catalogue.
                const node = { type, _: def._ };
                return values.map((value: string) => {
                    const result = def.defaults[property].validate.call(node, value, {});
                    return result === true ? true : String(result);
                });
            },
            { type, property, values },
        );
    }

    it("the schedule's cron expression: 5 or 6 fields in range, or a preset", async () => {
        const good = await check('d3kos-schedule', 'cron', ['0 3 * * *', '*/5 * * * *', '0 0 3 * * *', '0 3 * * mon-fri', '0 3 1-15/2 jan,jun *', '@daily']);
        assert.deepEqual(good, [true, true, true, true, true, true]);
        const [hour25, weekday8, words, fields, preset] = await check('d3kos-schedule', 'cron', ['0 25 * * *', '0 3 * * 8', 'every day at three', '0 3 * *', '@sometimes']);
        assert.match(String(hour25), /"25" is not a valid hour/);
        assert.match(String(weekday8), /"8" is not a valid weekday/);
        assert.match(String(words), /4 fields|is not a valid/);
        assert.match(String(fields), /has 4 fields/);
        assert.match(String(preset), /not a preset/);
    });

    it("the config node's data root and central URL", async () => {
        assert.deepEqual(await check('d3kos-config', 'root', ['/opt/d3kos', '${D3KOS_ROOT}', '${HOME}/d3kos']), [true, true, true]);
        const [relative, climbing] = await check('d3kos-config', 'root', ['opt/d3kos', '/opt/../etc']);
        assert.match(String(relative), /"opt\/d3kos" is not an absolute path/);
        assert.match(String(climbing), /climbs out/);
        assert.deepEqual(await check('d3kos-config', 'centralUrl', ['', 'https://central.example/', 'http://127.0.0.1:8080', '${D3KOS_CENTRAL_URL}']), [true, true, true, true]);
        const [words, ftp, query, login] = await check('d3kos-config', 'centralUrl', [
            'central server',
            'ftp://central.example/',
            'https://central.example/?x=1',
            'https://boat:secret@central.example/',
        ]);
        assert.match(String(words), /is not an address/);
        assert.match(String(ftp), /not an http/);
        assert.match(String(query), /query/);
        assert.match(String(login), /user name or password/);
        assert.doesNotMatch(String(login), /secret/, 'the reason repeats a password');
    });

    it('the boatlog CSV file', async () => {
        assert.deepEqual(await check('d3kos-boatlog-csv', 'file', ['', '/media/usb/boatlog.csv', '${USB}/boatlog.csv']), [true, true, true]);
        const [relative, folder] = await check('d3kos-boatlog-csv', 'file', ['boatlog.csv', '/media/usb/']);
        assert.match(String(relative), /not an absolute path/);
        assert.match(String(folder), /is a folder/);
    });
});
