import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { readLicense } from '../../lib/boat/license';
import { collectCategory, completeExport, exportBoatData } from '../../lib/export/collect-export';
import { startExport } from '../../lib/export/export-file';
import { ExportsInFlight } from '../../lib/export/in-flight';
import { scratchFolder } from '../support/folders';
import { readExports } from '../support/exports';

/** A point a piece of work waits at until the test lets it go on. */
function gate(): { wait: Promise<void>; open: () => void } {
    let open!: () => void;
    const wait = new Promise<void>((resolve) => (open = resolve));
    return { wait, open };
}

describe('exports in flight when their node closes', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;

    beforeEach(async () => {
        scratch = scratchFolder('in-flight');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 30, telemetryRows: 50 });
    });
    afterEach(() => scratch.remove());

    const filesIn = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

    it('closing waits for an export that finishes within the wait, and abandons nothing', async function () {
        const inFlight = new ExportsInFlight();
        const license = await readLicense(boat.layout.license);
        const go = gate();
        const work = inFlight.run(async (ticket) => {
            const exp = await ticket.hold(await startExport(boat.layout, license, 'full'));
            await go.wait;
            return ticket.keep(await completeExport(boat.layout, exp));
        });
        setTimeout(go.open, 300);
        const abandoned = await inFlight.close(10000);
        assert.deepEqual(abandoned, []);
        const finished = await work;
        assert.deepEqual(
            readExports(boat.layout.exportFilesDir).map((e) => e.file),
            [finished.export_file],
        );
        assert.equal(inFlight.size, 0);
    });

    it('an export still unfinished when the wait runs out is abandoned: its partial file goes, and it never becomes an export file', async function () {
        const inFlight = new ExportsInFlight();
        const license = await readLicense(boat.layout.license);
        const go = gate();
        const work = inFlight.run(async (ticket) => {
            const exp = await ticket.hold(await startExport(boat.layout, license, 'full'));
            await collectCategory(boat.layout, exp, 'boatlog');
            await go.wait;
            return ticket.keep(await completeExport(boat.layout, exp));
        });
        while (!filesIn(boat.layout.exportFilesDir).some((n) => n.endsWith('.partial'))) await new Promise((r) => setTimeout(r, 10));
        const started = Date.now();
        const abandoned = await inFlight.close(300);
        assert.ok(Date.now() - started < 15000, 'the wait is bounded');
        assert.equal(abandoned.length, 1);
        assert.match(abandoned[0], /^export_/);
        assert.deepEqual(filesIn(boat.layout.exportFilesDir), [], 'the partial file is removed');
        go.open();
        await assert.rejects(work);
        assert.deepEqual(filesIn(boat.layout.exportFilesDir), [], 'the late work leaves nothing behind');
    });

    it('an export that finishes after its node gave up on it is removed, not left unqueued', async function () {
        const inFlight = new ExportsInFlight();
        const go = gate();
        const work = inFlight.run(async (ticket) => {
            // Past the point of no return (renamed into place) only once the node has closed.
            const finished = await exportBoatData(boat.layout, 'full');
            await go.wait;
            return ticket.keep(finished);
        });
        while (readExports(boat.layout.exportFilesDir).length === 0) await new Promise((r) => setTimeout(r, 10));
        await inFlight.close(100);
        go.open();
        await assert.rejects(work, /was abandoned: its node was stopped or redeployed/);
        assert.deepEqual(readExports(boat.layout.exportFilesDir), []);
    });

    it('an export started after its node gave up on the work is removed at once', async function () {
        const inFlight = new ExportsInFlight();
        const license = await readLicense(boat.layout.license);
        const go = gate();
        const work = inFlight.run(async (ticket) => {
            await go.wait;
            return ticket.hold(await startExport(boat.layout, license, 'full'));
        });
        assert.deepEqual(await inFlight.close(100), []);
        go.open();
        await assert.rejects(work, /was abandoned/);
        assert.deepEqual(filesIn(boat.layout.exportFilesDir), []);
    });
});
