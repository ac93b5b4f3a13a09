import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot, RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';

// Every example flow (the editor's Import > Examples menu) deploys on a real Node-RED with our
// package: no unknown node type, no node that fails to start, no broken wiring.

const examplesDir = path.join(packageRoot(), 'examples');
const examples = fs.readdirSync(examplesDir).filter((name) => name.endsWith('.json')).sort();

describe('the example flows', function () {
    this.timeout(120000);
    let nodeRed: RunningNodeRed;
    let scratch: { dir: string; remove: () => void };

    before(async () => {
        scratch = scratchFolder('examples');
        nodeRed = await startNodeRed({ userDir: path.join(scratch.dir, 'node-red'), flows: [], quiet: true });
    });
    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('there is an example for every node type of the package', function () {
        const manifest = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8'));
        const used = new Set(examples.flatMap((name) => JSON.parse(fs.readFileSync(path.join(examplesDir, name), 'utf8')).map((n: any) => n.type)));
        const without = Object.keys(manifest['node-red'].nodes).filter((type) => !used.has(type));
        assert.deepEqual(without, [], `node types with no example flow: ${without.join(', ')}`);
    });

    for (const name of examples) {
        it(`${name} deploys without unknown types or broken wires`, async function () {
            const flow = JSON.parse(fs.readFileSync(path.join(examplesDir, name), 'utf8'));
            assert.ok(Array.isArray(flow) && flow.length > 0, 'an example is a non-empty flow array');
            const ids = new Set(flow.map((n: any) => n.id));
            assert.equal(ids.size, flow.length, 'node ids are unique');
            for (const node of flow) {
                for (const output of node.wires ?? []) for (const target of output) assert.ok(ids.has(target), `${node.id} is wired to missing node ${target}`);
            }
            const logBefore = nodeRed.log().length;
            const res = await fetch(`${nodeRed.url}/flows`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
                body: JSON.stringify(flow),
            });
            assert.ok(res.status === 200 || res.status === 204, `deploy answered ${res.status}: ${await res.text()}`);
            const deployed = await (await fetch(`${nodeRed.url}/flows`, { headers: { Accept: 'application/json' } })).json();
            assert.equal(deployed.length, flow.length);
            await new Promise((r) => setTimeout(r, 300));
            const log = nodeRed.log().slice(logBefore);
            assert.doesNotMatch(log, /Waiting for missing types|Unknown type|\[error\]/, log);
        });
    }
});
