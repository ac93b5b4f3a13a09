import assert from 'node:assert/strict';
import * as path from 'path';
import { helper } from '../support/node-red';
import { scratchFolder } from '../support/folders';
import configNode = require('../../nodes/config/config');

// The boat's config node reads `${VAR}` in its fields and in the device token credential the way Node-RED
// reads environment variables: the flow's own variables first, then the process environment.

describe('boat config node', function () {
    let scratch: ReturnType<typeof scratchFolder>;
    const saved = { ...process.env };
    beforeEach(() => (scratch = scratchFolder('config-node')));
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
        for (const name of ['D3KOS_DEVICE_TOKEN', 'D3KOS_TEST_ROOT']) {
            if (saved[name] === undefined) delete process.env[name];
            else process.env[name] = saved[name];
        }
    });

    function flow(tabEnv: Array<{ name: string; value: string; type: string }>, fields: Record<string, unknown> = {}) {
        return [
            { id: 'tab', type: 'tab', label: 'boat', env: tabEnv },
            { id: 'boat', type: 'd3kos-config', z: 'tab', root: scratch.dir, mediaDir: '', backupDir: '', centralUrl: '', ...fields },
        ];
    }

    it("${D3KOS_DEVICE_TOKEN} in the credential is read from the flow's environment variables", async () => {
        delete process.env.D3KOS_DEVICE_TOKEN;
        await helper.load(configNode, flow([{ name: 'D3KOS_DEVICE_TOKEN', value: 'token-of-this-flow', type: 'str' }]), {
            boat: { deviceToken: '${D3KOS_DEVICE_TOKEN}' },
        });
        assert.equal(helper.getNode('boat').deviceToken(), 'token-of-this-flow');
    });

    it('with no flow variable, ${D3KOS_DEVICE_TOKEN} is read from the process environment; a missing one means no token', async () => {
        process.env.D3KOS_DEVICE_TOKEN = 'token-of-the-process';
        await helper.load(configNode, flow([]), { boat: { deviceToken: '${D3KOS_DEVICE_TOKEN}' } });
        assert.equal(helper.getNode('boat').deviceToken(), 'token-of-the-process');
        await helper.unload();
        delete process.env.D3KOS_DEVICE_TOKEN;
        await helper.load(configNode, flow([]), { boat: { deviceToken: '${D3KOS_DEVICE_TOKEN}' } });
        assert.equal(helper.getNode('boat').deviceToken(), undefined);
    });

    it('a token typed in is used as it is, even when it looks like a variable name', async () => {
        process.env.PATH_TOKEN = 'not this';
        await helper.load(configNode, flow([]), { boat: { deviceToken: 'PATH_TOKEN' } });
        assert.equal(helper.getNode('boat').deviceToken(), 'PATH_TOKEN');
        delete process.env.PATH_TOKEN;
    });

    it('a path that starts with a flow variable (${D3KOS_TEST_ROOT}/boat) is read from the flow', async () => {
        await helper.load(configNode, flow([{ name: 'D3KOS_TEST_ROOT', value: scratch.dir, type: 'str' }], { root: '${D3KOS_TEST_ROOT}/boat' }));
        assert.equal(helper.getNode('boat').layout().root, path.join(scratch.dir, 'boat'));
    });
});
