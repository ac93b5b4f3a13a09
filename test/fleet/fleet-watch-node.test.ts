import assert from 'node:assert/strict';
import { openStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { helper } from '../support/node-red';
import { boatId, hoursAgo, seedImport } from './seed';
import fleetWatchNode = require('../../nodes/fleet-watch/fleet-watch');

describe('d3kos-fleet-watch in a real Node-RED: alerts as messages, a clock from msg.now', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    const now = new Date('2026-12-07T12:00:00.000Z');
    const silent = boatId('a');
    const flow = () => [
        { id: 'watch', type: 'd3kos-fleet-watch', dataDir: scratch.dir, database: '', thresholdHours: '48', steadyHours: '24', everyMinutes: '0', wires: [['alerts']] },
        { id: 'alerts', type: 'helper' },
    ];

    before(async () => {
        scratch = scratchFolder('fleet-watch-node');
        const store = await openStore(scratch.dir);
        await seedImport(store, { installation_id: silent, imported_at: hoursAgo(now, 240) });
        await seedImport(store, { installation_id: boatId('b'), imported_at: hoursAgo(now, 2) });
        await store.close();
    });

    afterEach(() => helper.unload());
    after(() => scratch.remove());

    /** Sends one check at `time` and answers what came out, once the node has called done(). */
    async function checkAt(time: Date): Promise<any[]> {
        const watch = helper.getNode('watch');
        const received: any[] = [];
        helper.getNode('alerts').on('input', (msg: any) => received.push(msg));
        // The node shows what it found once the check is over (the test helper spies on status, not on done).
        const done = new Promise<void>((resolve, reject) => {
            const seen = (call: any) => {
                if (call.args[0]?.fill !== 'green') return;
                watch.off('call:status', seen);
                resolve();
            };
            watch.on('call:status', seen);
            watch.once('call:error', (call: any) => reject(call.args[0]));
        });
        watch.receive({ now: time.toISOString() });
        await done;
        await new Promise((resolve) => setImmediate(resolve));
        return received;
    }

    it('sends one silent message for the boat silent ten days, none on the next check, none after a redeploy', async () => {
        await helper.load(fleetWatchNode, flow());
        const first = await checkAt(now);
        assert.equal(first.length, 1);
        assert.equal(first[0].topic, 'silent');
        assert.equal(first[0].payload.installation_id, silent);
        assert.equal(first[0].payload.last_contact_at, hoursAgo(now, 240));
        assert.deepEqual(await checkAt(new Date(now.getTime() + 900000)), []);

        await helper.unload();
        await helper.load(fleetWatchNode, flow());
        assert.deepEqual(await checkAt(new Date(now.getTime() + 1800000)), []);
    });

    it('refuses a msg.now that is not a time, in words', async () => {
        await helper.load(fleetWatchNode, flow());
        const watch = helper.getNode('watch');
        const failed = new Promise<Error>((resolve) => watch.once('call:error', (call: any) => resolve(call.args[0])));
        watch.receive({ now: 'next tuesday' });
        assert.match(String((await failed)?.message), /msg.now "next tuesday" is not a time/);
    });
});
