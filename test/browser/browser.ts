import * as fs from 'fs';
import * as path from 'path';
import { Browser, chromium, Page } from 'playwright-core';
import { startNodeRed, RunningNodeRed } from '../../tools/node-red-runtime';
import { loadFlow, root } from '../e2e/harness';

// The Data Management page in a real headless Chromium, at the helm touchscreen's size (and the 800 × 480 second screen).

export const KIOSK = { width: 1280, height: 800 };
export const SECOND_SCREEN = { width: 800, height: 480 };
export const ARTIFACTS = path.join(root, 'test-artifacts');
export const DATA_PAGE = '/dashboard/data';

export function launchChromium(): Promise<Browser> {
    return chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
}

export interface DataPage {
    page: Page;
    /** Uncaught script errors on the page so far. */
    scriptErrors: string[];
    /** Every request the page sent, as "METHOD /path". */
    requests: string[];
}

/** Opens the page and waits until the export section has read the tier and drawn itself. */
export async function openDataPage(browser: Browser, nodeRed: RunningNodeRed, viewport = KIOSK): Promise<DataPage> {
    const page = await browser.newPage({ viewport });
    const scriptErrors: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (err) => scriptErrors.push(err.message));
    page.on('request', (req) => requests.push(`${req.method()} ${new URL(req.url()).pathname}`));
    await page.goto(nodeRed.url + DATA_PAGE);
    await page.locator('[data-test="upgrade"], [data-test="export"], [data-test="tier-problem"]').first().waitFor({ timeout: 20000 });
    return { page, scriptErrors, requests };
}

export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `dashboard-${name}.png`);
    await page.screenshot({ path: file, fullPage: options.fullPage });
    return file;
}

/** Every visible control narrower or shorter than a wet fingertip (48 px), described for the failure message. */
export function smallTouchTargets(page: Page, minimum = 48): Promise<string[]> {
    return page.$$eval(
        'button, a[href], [role="button"], input, select',
        (elements, min) =>
            elements
                .map((el) => ({ el, box: el.getBoundingClientRect(), style: getComputedStyle(el) }))
                .filter(({ box, style }) => box.width > 0 && box.height > 0 && style.visibility !== 'hidden')
                .filter(({ box }) => box.width < min || box.height < min)
                .map(({ el, box }) => `"${(el.textContent || el.getAttribute('aria-label') || el.tagName).trim()}" ${Math.round(box.width)}×${Math.round(box.height)}`),
        minimum,
    );
}

/**
 * Every visible button (and button-like link) whose label does not fit: text wider or taller than the button
 * (scrollWidth > clientWidth), a label element inside it that overflows, or a button cut off by the screen's edge
 * or by a box around it that clips. Described for the failure message.
 */
export function clippedButtons(page: Page): Promise<string[]> {
    return page.$$eval('button, a.d3-btn, [role="button"]', (elements) => {
        const out: string[] = [];
        for (const el of elements as HTMLElement[]) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
            const name = (el.textContent || el.getAttribute('aria-label') || el.tagName).trim();
            // (No named helper functions in here: the test runner's compiler would wrap them in a call the page does not know.)
            for (const e of [el, ...Array.from(el.querySelectorAll<HTMLElement>('*'))]) {
                if (e.clientWidth === 0 && e !== el) continue;
                if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1) {
                    out.push(`"${name}": ${e === el ? 'its text' : 'its label'} ${e.scrollWidth}×${e.scrollHeight} in ${e.clientWidth}×${e.clientHeight}`);
                }
            }
            if (box.left < -1 || box.right > window.innerWidth + 1) out.push(`"${name}": off the screen's edge (${Math.round(box.left)}–${Math.round(box.right)})`);
            for (let up = el.parentElement; up; up = up.parentElement) {
                const style = getComputedStyle(up);
                if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
                const clip = up.getBoundingClientRect();
                if (box.left < clip.left - 1 || box.right > clip.right + 1)
                    out.push(`"${name}": cut off by its box (${Math.round(box.left)}–${Math.round(box.right)} in ${Math.round(clip.left)}–${Math.round(clip.right)})`);
                break;
            }
        }
        return out;
    });
}

/** How many controls of each kind the screen shows, to prove the touch-target check measured something. */
export function countControls(page: Page): Promise<number> {
    return page.locator('button:visible, a[href]:visible').count();
}

/** The central ingest flow on a port chosen beforehand, as test/e2e/harness.ts startCentral does on a free one. */
export function startCentralOn(dir: string, port: number, env: Record<string, string> = {}): Promise<RunningNodeRed> {
    return startNodeRed({
        userDir: path.join(dir, 'central-node-red'),
        port,
        flows: loadFlow('central-ingest'),
        env: { D3KOS_INGEST_MODE: 'open', D3KOS_INGEST_DIR: path.join(dir, 'central-data'), ...env },
        quiet: true,
    });
}
