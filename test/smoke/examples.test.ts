import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import { buildDemoBoat } from '../../tools/demo-boat';
import { packageRoot, PACKAGE_NAME, RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';

// Every example flow (the editor's Import > Examples menu, a submenu per subfolder of examples/) deploys
// on a real Node-RED with our package, on a demo boat: no unknown node type, no node that fails to start,
// no broken wiring. The production flows are among them, copied there by the build from flows/.

const examplesDir = path.join(packageRoot(), 'examples');
const examples = (fs.readdirSync(examplesDir, { recursive: true }) as string[])
    .filter((name) => name.endsWith('.json'))
    .map((name) => name.split(path.sep).join('/'))
    .sort();

describe('the example flows', function () {
    this.timeout(120000);
    let nodeRed: RunningNodeRed;
    let scratch: { dir: string; remove: () => void };

    before(async () => {
        scratch = scratchFolder('examples');
        const boat = path.join(scratch.dir, 'boat');
        await buildDemoBoat({ root: boat, mediaDir: path.join(scratch.dir, 'media'), tier: 2, boatlogRows: 50, telemetryRows: 50 });
        nodeRed = await startNodeRed({ userDir: path.join(scratch.dir, 'node-red'), flows: [], quiet: true, env: { D3KOS_ROOT: boat } });
    });
    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('the boat flow and the central ingest flow are under Import > Examples, in a submenu, as in flows/', async function () {
        const listed = await (await fetch(`${nodeRed.url}/library/examples/flows/${PACKAGE_NAME}`, { headers: { Accept: 'application/json' } })).json();
        assert.ok(listed.includes('production flows'), `the package's examples menu shows ${JSON.stringify(listed)}`);
        const submenu = await (await fetch(`${nodeRed.url}/library/examples/flows/${PACKAGE_NAME}/production flows`, { headers: { Accept: 'application/json' } })).json();
        assert.deepEqual(submenu.map((entry: { fn: string }) => entry.fn).sort(), ['boat', 'central-ingest']);
        for (const name of ['boat', 'central-ingest']) {
            const res = await fetch(`${nodeRed.url}/library/examples/flows/${PACKAGE_NAME}/production flows/${name}`);
            assert.equal(res.status, 200);
            assert.deepEqual(
                await res.json(),
                JSON.parse(fs.readFileSync(path.join(packageRoot(), 'flows', `${name}.json`), 'utf8')),
                `examples/production flows/${name}.json differs from flows/${name}.json`,
            );
        }
    });

    it("the SQLite example opens the boat's boatlog read-only at the data root the config node uses, and queries it", async function () {
        const flow = JSON.parse(fs.readFileSync(path.join(examplesDir, 'boatlog', 'query-boatlog-sqlite.json'), 'utf8'));
        const logBefore = nodeRed.log().length;
        await deploy(flow);
        await waitFor(() => /Started flows/.test(nodeRed.log().slice(logBefore)), 'the example to start');
        for (const inject of flow.filter((n: any) => n.type === 'inject')) {
            const res = await fetch(`${nodeRed.url}/inject/${inject.id}`, { method: 'POST' });
            assert.equal(res.status, 200, `inject ${inject.name} answered ${res.status}`);
        }
        await waitFor(() => /opened .*data\/boatlog\/boatlog\.db ok/.test(nodeRed.log().slice(logBefore)), 'the boatlog database to be opened');
        await new Promise((r) => setTimeout(r, 500));
        const log = nodeRed.log().slice(logBefore);
        assert.doesNotMatch(log, /\[error\]/, log);
        assert.match(log, /opened .*data\/marine-vision\/captures\.db ok/, log);
    });

    async function deploy(flow: unknown[]): Promise<void> {
        const res = await fetch(`${nodeRed.url}/flows`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
            body: JSON.stringify(flow),
        });
        assert.ok(res.status === 200 || res.status === 204, `deploy answered ${res.status}: ${await res.text()}`);
    }

    async function waitFor(check: () => boolean, what: string, ms = 10000): Promise<void> {
        const deadline = Date.now() + ms;
        while (!check()) {
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${nodeRed.log()}`);
            await new Promise((r) => setTimeout(r, 100));
        }
    }

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
            await deploy(flow);
            const deployed = await (await fetch(`${nodeRed.url}/flows`, { headers: { Accept: 'application/json' } })).json();
            assert.equal(deployed.length, flow.length);
            await new Promise((r) => setTimeout(r, 300));
            const log = nodeRed.log().slice(logBefore);
            assert.doesNotMatch(log, /Waiting for missing types|Unknown type|\[error\]/, log);
        });
    }
});
