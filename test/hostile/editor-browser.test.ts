import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../browser/browser';
import { scratchFolder } from '../support/folders';
import { send } from './boat-on-the-network';
import { EditorBoat, startEditorBoat } from './editor-boat';

// The installer's side of the editor rules: Node-RED's editor, opened in a real headless Chromium at the boat's
// own address, loads its palette, keeps its websocket and deploys, while the editor has no password.

describe('hostile network: the editor without a password still works from the boat', function () {
    this.timeout(180000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: EditorBoat;
    let browser: Browser;

    before(async () => {
        scratch = scratchFolder('editor-browser');
        boat = await startEditorBoat(scratch.dir);
        browser = await launchChromium();
    });
    after(async () => {
        await browser?.close();
        await boat?.stop();
        scratch?.remove();
    });

    it('the editor at http://<boat>:1880/ loads, keeps its websocket open and deploys a new node', async () => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        const refused: string[] = [];
        const scriptErrors: string[] = [];
        page.on('pageerror', (err) => scriptErrors.push(err.message));
        page.on('response', (res) => {
            if (res.status() === 403) refused.push(`${res.request().method()} ${res.url()}`);
        });
        const sockets: Array<{ url: string; closed: boolean }> = [];
        page.on('websocket', (ws) => {
            const seen = { url: ws.url(), closed: false };
            sockets.push(seen);
            ws.on('close', () => (seen.closed = true));
        });
        await page.goto(`${boat.url}/`);
        await page.locator('.red-ui-palette-node').nth(10).waitFor({ timeout: 60000 });
        await page.waitForFunction(() => (window as any).RED?.workspaces?.active?.(), undefined, { timeout: 30000 });
        await page.waitForTimeout(2000);
        assert.ok(
            sockets.some((s) => /\/comms$/.test(s.url) && !s.closed),
            `the editor's websocket: ${JSON.stringify(sockets)}`,
        );

        const before = (await send(boat, { path: '/flows' })).json.length;
        await page.evaluate(() => {
            const RED = (window as any).RED;
            RED.view.importNodes([{ id: 'installer-note', type: 'comment', name: 'added in the editor', x: 200, y: 120, z: RED.workspaces.active(), wires: [] }]);
            RED.nodes.dirty(true);
        });
        await page.locator('#red-ui-header-button-deploy').click();
        await page.locator('.red-ui-notification', { hasText: /Successfully deployed/ }).waitFor({ timeout: 30000 });
        const deployed = (await send(boat, { path: '/flows' })).json;
        assert.equal(deployed.length, before + 1);
        assert.ok(deployed.some((n: { name?: string }) => n.name === 'added in the editor'));
        assert.deepEqual(refused, []);
        assert.deepEqual(scriptErrors, []);
    });
});
