import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { call, startCentral } from '../e2e/harness';
import { launchChromium } from '../browser/browser';
import { forEachStore } from '../ingest/stores';
import { boatId, hoursAgo, seedImport } from './seed';

// The fleet page on flows/central-ingest.json in a real Node-RED (npm run build first), in a real Chromium.
// SQLite runs the ingest in tokens mode, PostgreSQL in open mode: the page wants an operator token in both.

const OPERATOR_TOKEN = 'operator-token-for-the-fleet-page-test';
const DEVICE_TOKEN = 'device-token-of-the-recent-boat';
const FILLERS = 50;

forEachStore('the fleet page in a browser', (kind) => {
    const mode = kind.name === 'SQLite' ? 'tokens' : 'open';
    let scratch: ReturnType<typeof scratchFolder>;
    let central: RunningNodeRed;
    let browser: Browser;
    const now = new Date();
    // Each boat's id starts so that the search can find it alone (fillers start with a digit).
    const silent = boatId('fee1');
    const hoursOld = boatId('cc');
    const recent = boatId('bb');
    const ids = [silent, hoursOld, recent];

    before(async function () {
        this.timeout(180000);
        scratch = scratchFolder('fleet-page');
        const dataDir = path.join(scratch.dir, 'central-data');
        const database = await kind.freshDatabase();
        const store = await kind.open(dataDir, database);
        try {
            await seedImport(store, { installation_id: silent, imported_at: hoursAgo(now, 240), exported_at: hoursAgo(now, 241), rows: { boatlog: 3, telemetry: 4 } });
            await store.recordBacklog(silent, { exports: 3, bytes: 12345 }, hoursAgo(now, 240));
            await seedImport(store, { installation_id: hoursOld, imported_at: hoursAgo(now, 3) });
            await seedImport(store, { installation_id: recent, imported_at: hoursAgo(now, 1) });
            await store.recordFailure({ installation_id: recent, export_id: 'export_refused', failed_at: hoursAgo(now, 0.5), status: 400, error: 'the export is not valid: tier is missing' });
            for (let i = 0; i < FILLERS; i++) await seedImport(store, { installation_id: boatId(String(i % 10)), imported_at: hoursAgo(now, 2 + i / 100) });
        } finally {
            await store.close();
        }
        fs.mkdirSync(dataDir, { recursive: true });
        fs.writeFileSync(path.join(dataDir, 'operators.json'), JSON.stringify([OPERATOR_TOKEN]));
        fs.writeFileSync(path.join(dataDir, 'devices.json'), JSON.stringify({ [DEVICE_TOKEN]: recent }));
        central = await startCentral(scratch.dir, { D3KOS_INGEST_MODE: mode, D3KOS_INGEST_DATABASE_URL: database });
        browser = await launchChromium();
    });

    after(async () => {
        await browser?.close();
        await central?.stop();
        scratch?.remove();
    });

    async function signIn(page: Page, token = OPERATOR_TOKEN): Promise<void> {
        await page.goto(`${central.url}/fleet`);
        await page.locator('#token').fill(token);
        await page.locator('#sign-in button[type="submit"]').click();
    }

    const shownIds = (page: Page) => page.$$eval('#boats tr', (rows) => rows.map((row) => (row as HTMLElement).dataset.installation));

    it(`shows an operator every boat, the one silent for ten days first, and pages and searches (${mode} mode)`, async () => {
        const page = await browser.newPage();
        const scriptErrors: string[] = [];
        page.on('pageerror', (err) => scriptErrors.push(err.message));
        await signIn(page);
        await page.locator('#boats tr').first().waitFor({ timeout: 20000 });

        const first = await shownIds(page);
        assert.equal(first.length, 50);
        assert.equal(first[0], silent);
        assert.equal(first[1], hoursOld);
        assert.ok(!first.includes(recent), 'the boat heard from an hour ago is on the second page, after 50 longer silent');
        const silentRow = page.locator(`tr[data-installation="${silent}"]`);
        assert.equal(await silentRow.getAttribute('class'), 'silent');
        const silentText = await silentRow.innerText();
        assert.match(silentText, /10 days ago/);
        assert.match(silentText, /boatlog 3, telemetry 4/);
        assert.match(silentText, /3 exports, 12\.1 kB/);
        assert.match(await page.locator('#summary').innerText(), /53 boats, 1 silent for more than 48 h/);

        await page.locator('#next').click();
        await page.locator('#page-number', { hasText: 'page 2' }).waitFor();
        const second = await shownIds(page);
        assert.equal(second.length, 3);
        assert.equal(second[second.length - 1], recent);
        assert.equal(new Set([...first, ...second]).size, 53);
        assert.match(await page.locator(`tr[data-installation="${recent}"]`).innerText(), /the export is not valid: tier is missing/);

        await page.locator('#previous').click();
        await page.locator('#page-number', { hasText: 'page 1' }).waitFor();
        assert.deepEqual(await shownIds(page), first);

        // Erasing asks for the boat's id typed out; a central without DELETE /api/v1/installations/:id is named as such.
        const filler = first[2];
        await page.locator(`tr[data-installation="${filler}"] [data-action="erase"]`).click();
        await page.locator('[data-action="confirm-id"]').fill(silent);
        await page.locator('[data-action="erase-now"]').click();
        await page.locator('.confirm .problem', { hasText: 'nothing was erased' }).waitFor();
        await page.locator('[data-action="confirm-id"]').fill(filler);
        await page.locator('[data-action="erase-now"]').click();
        if (mode === 'tokens') {
            await page
                .locator('#notice', { hasText: `Erased ${filler}` })
                .or(page.locator('.confirm .problem', { hasText: 'Not erased' }))
                .waitFor();
            assert.ok(
                await page.locator('#notice', { hasText: `Erased ${filler}` }).isVisible(),
                await page
                    .locator('.confirm .problem')
                    .allInnerTexts()
                    .then((t) => t.join(' | ')),
            );
            assert.ok(!(await shownIds(page)).includes(filler), 'the erased boat is still listed');
        } else {
            // Open mode lets anyone upload, so nobody may erase: the page says why, and the boat stays.
            await page.locator('.confirm .problem', { hasText: /Not erased: .*open/ }).waitFor();
            assert.ok((await shownIds(page)).includes(filler));
        }

        await page.locator('#search').fill(silent.slice(0, 4));
        await page.locator('#filters button[type="submit"]').click();
        await page.locator('#summary', { hasText: '1 match the search' }).waitFor();
        assert.deepEqual(await shownIds(page), [silent]);
        assert.deepEqual(scriptErrors, []);
        await page.close();
    });

    it(`shows an anonymous browser, or one with a device token, no installation id: not in the page, not in its traffic (${mode} mode)`, async () => {
        const context = await browser.newContext();
        const page = await context.newPage();
        const bodies: Array<Promise<string>> = [];
        const sockets: string[] = [];
        page.on('response', (res) =>
            bodies.push(
                res.body().then(
                    (b) => `${res.url()} ${res.status()}\n${b.toString('utf8')}`,
                    () => '',
                ),
            ),
        );
        page.on('websocket', (ws) => sockets.push(ws.url()));

        await page.goto(`${central.url}/fleet`);
        await page.locator('#sign-in').waitFor({ state: 'visible' });
        // What a curious script on the page could ask without a token, or with a boat's token.
        const refused = await page.evaluate(async (deviceToken) => {
            const anonymous = await fetch('api/v1/fleet/boats');
            const device = await fetch('api/v1/fleet/boats', { headers: { Authorization: `Bearer ${deviceToken}` } });
            return [anonymous.status, device.status];
        }, DEVICE_TOKEN);
        assert.deepEqual(refused, [401, 403]);

        await page.locator('#token').fill('a-guess');
        await page.locator('#sign-in button[type="submit"]').click();
        await page.locator('#notice', { hasText: 'The token was refused' }).waitFor();
        assert.equal(await page.locator('#boats tr').count(), 0);

        const traffic = await Promise.all(bodies);
        assert.ok(traffic.length >= 5, `the page's traffic was recorded (${traffic.length} responses)`);
        for (const id of ids) {
            for (const body of traffic) assert.ok(!body.includes(id), `installation ${id} is in an answer to an anonymous browser: ${body.slice(0, 300)}`);
        }
        assert.ok(!(await page.content()).includes(silent));
        assert.deepEqual(sockets, []);
        await context.close();
    });

    it('serves the page with headers that allow only its own script, and refuses files it does not have', async () => {
        const page = await call(central, 'GET', '/fleet');
        assert.equal(page.status, 200);
        assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
        assert.equal(page.headers.get('access-control-allow-origin'), null);
        for (const id of ids) assert.ok(!page.text.includes(id));
        const missing = await call(central, 'GET', '/fleet/..%2Fpackage.json');
        assert.equal(missing.status, 404);
        assert.match(missing.json.error, /the fleet page has no file/);
        // Names every object has (constructor, __proto__) are no files either, and no answer shows a path on disk.
        const inherited = await call(central, 'GET', '/fleet/constructor');
        assert.equal(inherited.status, 404);
        assert.doesNotMatch(inherited.text, /\/tmp|\/work|node_modules/);
        const boats = await call(central, 'GET', '/api/v1/fleet/boats?limit=2', { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } });
        assert.equal(boats.status, 200);
        assert.deepEqual(
            boats.json.boats.map((b: any) => b.installation_id),
            [silent, hoursOld],
        );
        assert.equal(boats.headers.get('access-control-allow-origin'), null);
    });
});
