import assert from 'node:assert/strict';
import { promises as fs } from 'fs';
import * as path from 'path';
import { helper, nextError, nextMessage } from '../support/node-red';
import { scratchFolder, writeJson } from '../support/folders';
import configNode = require('../../nodes/config/config');
import scheduleNode = require('../../nodes/schedule/schedule');

function flow(root: string, schedule: Record<string, unknown> = {}) {
    return [
        { id: 'boat', type: 'd3kos-config', root, mediaDir: path.join(root, 'media') },
        {
            id: 'daily',
            type: 'd3kos-schedule',
            boat: 'boat',
            cron: '0 3 * * *',
            timeZone: '',
            catchUp: true,
            catchUpDelay: 0,
            key: 'daily-export',
            topic: 'scheduled-export',
            payload: '{"mode":"incremental"}',
            wires: [['out']],
            ...schedule,
        },
        { id: 'out', type: 'helper' },
    ];
}

describe('schedule node', function () {
    let scratch: ReturnType<typeof scratchFolder>;
    beforeEach(() => (scratch = scratchFolder('schedule-node')));
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    const stateFile = () => path.join(scratch.dir, 'state', 'schedules', 'daily-export.json');

    it('a 03:00 missed while the boat was off sends one incremental run after start', async () => {
        writeJson(stateFile(), { version: 1, cron: '0 3 * * *', time_zone: '', covered_until: new Date(Date.now() - 30 * 3600 * 1000).toISOString() });
        await helper.load([configNode, scheduleNode], flow(scratch.dir));
        const msg = await nextMessage(helper.getNode('out'));
        assert.deepEqual(msg.payload, { mode: 'incremental' });
        assert.equal(msg.topic, 'scheduled-export');
        assert.equal(msg.schedule.catch_up, true);
        assert.equal(msg.schedule.manual, false);
        const saved = JSON.parse(await fs.readFile(stateFile(), 'utf8'));
        assert.equal(saved.last_scheduled_for, msg.schedule.scheduled_for);
    });

    it('the first start sends nothing and remembers the time in the data root', async () => {
        await helper.load([configNode, scheduleNode], flow(scratch.dir));
        let sent = false;
        helper.getNode('out').on('input', () => (sent = true));
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(sent, false);
        assert.ok(JSON.parse(await fs.readFile(stateFile(), 'utf8')).covered_until);
    });

    it('an input message runs the job now, marked manual', async () => {
        await helper.load([configNode, scheduleNode], flow(scratch.dir));
        const received = nextMessage(helper.getNode('out'));
        helper.getNode('daily').receive({ payload: 'now' });
        const msg = await received;
        assert.equal(msg.schedule.manual, true);
        assert.deepEqual(msg.payload, { mode: 'incremental' });
    });

    it('fires on its cron time, and stops firing when the flow is stopped', async function () {
        this.timeout(10000);
        await helper.load([configNode, scheduleNode], flow(scratch.dir, { cron: '* * * * * *' }));
        const msg = await nextMessage(helper.getNode('out'), 5000);
        assert.equal(msg.schedule.catch_up, false);
        await helper.unload();
        const remembered = await fs.readFile(stateFile(), 'utf8');
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(await fs.readFile(stateFile(), 'utf8'), remembered, 'the schedule kept running after its flow stopped');
    });

    it('an invalid cron expression turns the node red and reports an error a Catch node sees', async () => {
        const loading = helper.load([configNode, scheduleNode], flow(scratch.dir, { cron: '0 25 * * *' }));
        await loading;
        const error = await nextError(helper.getNode('daily'));
        assert.match(error.message, /cron expression "0 25 \* \* \*" is not valid/);
    });
});
