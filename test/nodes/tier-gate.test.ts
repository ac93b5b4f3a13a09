import assert from 'node:assert/strict';
import * as path from 'path';
import { helper, nextError, nextMessage } from '../support/node-red';
import { scratchFolder, writeJson } from '../support/folders';
import configNode = require('../../nodes/config/config');
import tierGateNode = require('../../nodes/tier-gate/tier-gate');

function flow(root: string, minimumTier: number) {
    return [
        { id: 'boat', type: 'd3kos-config', root, mediaDir: path.join(root, 'media') },
        { id: 'gate', type: 'd3kos-tier-gate', boat: 'boat', minimumTier: String(minimumTier), wires: [['allowed'], ['refused']] },
        { id: 'allowed', type: 'helper' },
        { id: 'refused', type: 'helper' },
    ];
}

describe('tier-gate node', function () {
    let scratch: ReturnType<typeof scratchFolder>;
    beforeEach(() => (scratch = scratchFolder('tier')));
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    function license(value: unknown) {
        writeJson(path.join(scratch.dir, 'config', 'license.json'), value);
    }

    for (const [tier, minimum, passes] of [
        [0, 1, false],
        [1, 1, true],
        [2, 1, true],
        [3, 1, true],
        [1, 2, false],
        [2, 2, true],
        [3, 2, true],
    ] as const) {
        it(`tier ${tier} against minimum ${minimum} ${passes ? 'passes' : 'is refused'}`, async function () {
            license({ installation_id: '0123456789abcdef', tier });
            await helper.load([configNode, tierGateNode], flow(scratch.dir, minimum));
            const out = helper.getNode(passes ? 'allowed' : 'refused');
            const other = helper.getNode(passes ? 'refused' : 'allowed');
            let wrongWay = false;
            other.on('input', () => (wrongWay = true));
            const received = nextMessage(out);
            helper.getNode('gate').receive({ payload: 'go' });
            const msg = await received;
            assert.equal(msg.tier, tier);
            assert.equal(wrongWay, false);
            if (!passes) {
                assert.equal(msg.statusCode, 403);
                assert.deepEqual(msg.payload, { success: false, error: `Export requires Tier ${minimum} or higher`, tier });
            } else {
                assert.equal(msg.payload, 'go');
            }
        });
    }

    const broken: Array<[string, unknown, RegExp]> = [
        ['malformed JSON', '{"tier": 2,', /not valid JSON/],
        ['a tier of 7', { installation_id: '0123456789abcdef', tier: 7 }, /tier 7, which is not a d3kOS tier/],
        ['a tier written as text', { installation_id: '0123456789abcdef', tier: '2' }, /tier "2"/],
        ['no installation_id', { tier: 2 }, /installation_id/],
    ];
    for (const [what, content, message] of broken) {
        it(`a license with ${what} lets nothing through and names the problem`, async function () {
            license(content);
            await helper.load([configNode, tierGateNode], flow(scratch.dir, 1));
            let passed = false;
            helper.getNode('allowed').on('input', () => (passed = true));
            helper.getNode('refused').on('input', () => (passed = true));
            const error = nextError(helper.getNode('gate'));
            helper.getNode('gate').receive({ payload: 'go' });
            assert.match((await error).message, message);
            assert.equal(passed, false);
        });
    }

    it('a missing license lets nothing through', async function () {
        await helper.load([configNode, tierGateNode], flow(scratch.dir, 1));
        const error = nextError(helper.getNode('gate'));
        helper.getNode('gate').receive({});
        assert.match((await error).message, /license.json was not found/);
    });

    it('a tier change takes effect without a redeploy', async function () {
        license({ installation_id: '0123456789abcdef', tier: 0 });
        await helper.load([configNode, tierGateNode], flow(scratch.dir, 1));
        const refused = nextMessage(helper.getNode('refused'));
        helper.getNode('gate').receive({});
        await refused;
        license({ installation_id: '0123456789abcdef', tier: 1 });
        const allowed = nextMessage(helper.getNode('allowed'));
        helper.getNode('gate').receive({});
        assert.equal((await allowed).tier, 1);
    });
});
