import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import type { DemoBoat } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { demoBoat, startBoat } from '../e2e/harness';
import { scratchFolder } from '../support/folders';
import { archiveContents, createOverHttp, downloadOverHttp, postJson } from './backup-support';

// Finding: a device token kept as a Node-RED environment variable (global, or a tab's, as the README suggested)
// sat in flows.json in clear, and a plain backup downloaded over the LAN carried it.

const DEVICE_TOKEN = 'dtok-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4';
const SIGNALK_PASSWORD = 'harbour-light-4471-sk';
const GROUP_KEY = 'grp-key-0d9e8f7a6b5c4d3e';
const BOAT_NAME = 'Sea Breeze of Lunenburg';

describe('hostile network: secret Node-RED environment variables in a plain backup', function () {
    this.timeout(180000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;
    const flowsFile = () => path.join(nodeRed.userDir, 'flows.json');

    before(async () => {
        scratch = scratchFolder('flows-env');
        boat = await demoBoat(scratch.dir, { boatlogRows: 20, telemetryRows: 50 });
        nodeRed = await startBoat(scratch.dir, boat, {
            centralUrl: 'http://127.0.0.1:9',
            tweak: (flow) => {
                flow.push({ id: 'global-env', type: 'global-config', env: [{ name: 'D3KOS_DEVICE_TOKEN', value: DEVICE_TOKEN, type: 'str' }] });
                const tab = flow.find((n) => n.type === 'tab')!;
                tab.env = [
                    { name: 'SIGNALK_PASSWORD', value: SIGNALK_PASSWORD, type: 'str' },
                    { name: 'BOAT_NAME', value: BOAT_NAME, type: 'str' },
                ];
                flow.push({ id: 'env-group', type: 'group', z: tab.id, nodes: [], env: [{ name: 'weather-api-key', value: GROUP_KEY, type: 'str' }], x: 0, y: 0, w: 10, h: 10 });
            },
        });
        assert.ok(fs.readFileSync(flowsFile(), 'utf8').includes(DEVICE_TOKEN));
    });
    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('the downloaded archive holds none of them, only placeholders; an ordinary variable stays', async () => {
        const name = await createOverHttp(nodeRed);
        const everything = archiveContents(await downloadOverHttp({ scratch, boat, nodeRed }, name));
        for (const secret of [DEVICE_TOKEN, SIGNALK_PASSWORD, GROUP_KEY]) assert.ok(!everything.includes(secret), `${secret} is in the archive`);
        assert.ok(everything.includes('[[d3kos-secret:flows.json:env.global-env.D3KOS_DEVICE_TOKEN]]'));
        assert.ok(everything.includes(BOAT_NAME));
    });

    it('restored on the same boat, the flows file gets the live values back', async () => {
        const name = await createOverHttp(nodeRed);
        const answer = await postJson(nodeRed, '/api/backup/restore', { name });
        assert.equal(answer.status, 200, answer.text);
        assert.deepEqual(answer.json.secrets_missing, [], answer.text);
        const restored = fs.readFileSync(flowsFile(), 'utf8');
        for (const secret of [DEVICE_TOKEN, SIGNALK_PASSWORD, GROUP_KEY]) assert.ok(restored.includes(secret), `${secret} is not back in flows.json`);
        assert.ok(!restored.includes('[[d3kos-secret'));
    });
});
