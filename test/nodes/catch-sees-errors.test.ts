import assert from 'node:assert/strict';
import * as path from 'path';
import { helper } from '../support/node-red';
import { scratchFolder } from '../support/folders';
import configNode = require('../../nodes/config/config');
import scheduleNode = require('../../nodes/schedule/schedule');
import mediaCleanupNode = require('../../nodes/media-cleanup/media-cleanup');
import syncQueueNode = require('../../nodes/sync-queue/sync-queue');
// Node-RED's own Catch node: an error reaches it only when node.error is given a message.
import catchNode = require('@node-red/nodes/core/common/25-catch');

// The boat flow's Catch nodes turn errors into answers or a visible status. Errors that no incoming
// message carries (a schedule that cannot start, a bad setting, the queue's background work) must reach
// them too, not only the log.

describe('errors without an incoming message reach a Catch node', function () {
    let scratch: ReturnType<typeof scratchFolder>;
    /** What the Catch node passed on, however early it came. */
    let caught: any[];
    const caughtErrors = (RED: any) =>
        RED.nodes.registerType('caught-errors', function (this: any, config: any) {
            RED.nodes.createNode(this, config);
            this.on('input', (msg: any) => caught.push(msg));
        });
    beforeEach(() => {
        scratch = scratchFolder('catch');
        caught = [];
    });
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    function flow(node: Record<string, unknown>) {
        return [
            { id: 'tab', type: 'tab', label: 'catch' },
            { id: 'boat', type: 'd3kos-config', z: 'tab', root: scratch.dir, mediaDir: path.join(scratch.dir, 'media') },
            { ...node, z: 'tab', boat: 'boat', x: 100, y: 40, wires: [] },
            { id: 'catch', type: 'catch', z: 'tab', scope: null, uncaught: false, x: 100, y: 80, wires: [['caught']] },
            { id: 'caught', type: 'caught-errors', z: 'tab', x: 300, y: 80, wires: [] },
        ];
    }

    it('a schedule whose cron expression cannot be read', async () => {
        await helper.load([configNode, scheduleNode, catchNode, caughtErrors], flow({ id: 'daily', type: 'd3kos-schedule', cron: 'every day at three', key: 'daily-export' }));
        const msg = await firstCaught();
        assert.equal(msg.error.source.id, 'daily');
        assert.match(msg.error.message, /every day at three/);
    });

    it('a media cleanup with a maximum age that is not a number of days', async () => {
        await helper.load([configNode, mediaCleanupNode, catchNode, caughtErrors], flow({ id: 'media', type: 'd3kos-media-cleanup', maxAgeDays: 'a week' }));
        const msg = await firstCaught();
        assert.equal(msg.error.source.id, 'media');
        assert.match(msg.error.message, /a week/);
        assert.equal(msg.payload.success, false);
    });

    it('a sync queue with a retry schedule that is not a list of seconds', async () => {
        await helper.load([configNode, syncQueueNode, catchNode, caughtErrors], flow({ id: 'queue', type: 'd3kos-sync-queue', pollSeconds: '60', retrySchedule: 'soon, later' }));
        const msg = await firstCaught();
        assert.equal(msg.error.source.id, 'queue');
        assert.match(msg.error.message, /soon/);
        assert.equal(msg.statusCode, 400);
    });

    async function firstCaught(ms = 5000): Promise<any> {
        const deadline = Date.now() + ms;
        while (caught.length === 0) {
            if (Date.now() > deadline) throw new Error(`the Catch node passed nothing on within ${ms} ms`);
            await new Promise((r) => setTimeout(r, 20));
        }
        return caught[0];
    }
});
