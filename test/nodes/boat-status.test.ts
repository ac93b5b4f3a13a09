import assert from 'node:assert/strict';
import * as path from 'path';
import { helper, nextError, nextMessage } from '../support/node-red';
import { scratchFolder, writeJson } from '../support/folders';
import configNode = require('../../nodes/config/config');
import boatStatusNode = require('../../nodes/boat-status/boat-status');

describe('boat-status node', () => {
    let scratch: ReturnType<typeof scratchFolder>;
    beforeEach(() => (scratch = scratchFolder('boat-status')));
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    function flow(report: string) {
        return [
            { id: 'boat', type: 'd3kos-config', root: scratch.dir, mediaDir: path.join(scratch.dir, 'media') },
            { id: 'status', type: 'd3kos-boat-status', boat: 'boat', report, wires: [['out']] },
            { id: 'out', type: 'helper' },
        ];
    }

    it('answers the tier from license.json, read fresh for every message', async () => {
        writeJson(path.join(scratch.dir, 'config', 'license.json'), { installation_id: '0123456789abcdef', tier: 1 });
        await helper.load([configNode, boatStatusNode], flow('tier'));
        let received = nextMessage(helper.getNode('out'));
        helper.getNode('status').receive({});
        assert.equal((await received).payload.tier, 1);
        writeJson(path.join(scratch.dir, 'config', 'license.json'), { installation_id: '0123456789abcdef', tier: 3 });
        received = nextMessage(helper.getNode('out'));
        helper.getNode('status').receive({});
        assert.equal((await received).payload.tier, 3);
    });

    it('msg.report picks another report; health of a boat without a license is a 503', async () => {
        await helper.load([configNode, boatStatusNode], flow('tier'));
        const received = nextMessage(helper.getNode('out'));
        helper.getNode('status').receive({ report: 'health' });
        const msg = await received;
        assert.equal(msg.statusCode, 503);
        assert.equal(msg.payload.status, 'degraded');
    });

    it('an unknown msg.report is a 400 error', async () => {
        await helper.load([configNode, boatStatusNode], flow('tier'));
        const error = nextError(helper.getNode('status'));
        helper.getNode('status').receive({ report: 'secrets' });
        assert.match((await error).message, /msg.report "secrets" is not one of/);
    });
});
