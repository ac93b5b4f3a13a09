import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import { packageNodes, packageRoot, PACKAGE_NAME, RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';

// Loads the built package (dist/, built by `pretest`) into a real Node-RED 4.1, installed as a linked
// module, and checks through the admin API what the editor will ask for: every node, its editor,
// its help, its messages and its icons.

interface NodeSet {
    id: string;
    module: string;
    types: string[];
    enabled: boolean;
    err?: string;
}

const root = packageRoot();
const declared = packageNodes(root);

describe('the built package in a real Node-RED', function () {
    this.timeout(90000);
    let nodeRed: RunningNodeRed;
    let scratch: { dir: string; remove: () => void };
    let sets: NodeSet[];
    let editorHtml: string;

    before(async () => {
        scratch = scratchFolder('smoke');
        nodeRed = await startNodeRed({ userDir: path.join(scratch.dir, 'node-red'), flows: [], quiet: true });
        sets = await getJson('/nodes');
        editorHtml = await getText('/nodes', 'text/html');
    });

    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    async function getJson(urlPath: string): Promise<any> {
        const res = await fetch(nodeRed.url + urlPath, { headers: { Accept: 'application/json' } });
        assert.equal(res.status, 200, `GET ${urlPath} answered ${res.status}`);
        return res.json();
    }

    async function getText(urlPath: string, accept = '*/*'): Promise<string> {
        const res = await fetch(nodeRed.url + urlPath, { headers: { Accept: accept } });
        assert.equal(res.status, 200, `GET ${urlPath} answered ${res.status}`);
        return res.text();
    }

    /** The part of GET /nodes (text/html) that one node set contributed. */
    function editorSection(setId: string): string {
        const marker = `<!-- --- [red-module:${setId}] --- -->`;
        const start = editorHtml.indexOf(marker);
        assert.ok(start >= 0, `GET /nodes (text/html) has no section for ${setId}`);
        const next = editorHtml.indexOf('<!-- --- [red-module:', start + marker.length);
        return editorHtml.slice(start, next < 0 ? undefined : next);
    }

    it('package.json declares at least the config node and the tier gate', () => {
        assert.ok(declared['d3kos-config'], 'd3kos-config is missing from package.json node-red.nodes');
        assert.ok(declared['d3kos-tier-gate'], 'd3kos-tier-gate is missing from package.json node-red.nodes');
    });

    it('every node type package.json lists is loaded and enabled, with no error', () => {
        for (const type of Object.keys(declared)) {
            const set = sets.find((s) => s.id === `${PACKAGE_NAME}/${type}`);
            assert.ok(set, `${type} was not loaded by Node-RED (no node set ${PACKAGE_NAME}/${type})`);
            assert.equal(set.err, undefined, `${type} failed to load: ${set.err}`);
            assert.equal(set.enabled, true, `${type} is not enabled`);
            assert.deepEqual(set.types, [type], `${declared[type]} registered ${JSON.stringify(set.types)} instead of ${type}`);
        }
    });

    it('the dashboard and the SQLite nodes from the same install load beside it', () => {
        for (const module of ['@flowfuse/node-red-dashboard', 'node-red-node-sqlite']) {
            const loaded = sets.filter((s) => s.module === module);
            assert.ok(loaded.length > 0, `${module} was not loaded`);
            for (const set of loaded) assert.equal(set.err, undefined, `${set.id} failed to load: ${set.err}`);
        }
    });

    it('every node has its editor template and its help text', () => {
        for (const type of Object.keys(declared)) {
            const section = editorSection(`${PACKAGE_NAME}/${type}`);
            assert.match(section, new RegExp(`RED\\.nodes\\.registerType\\(\\s*['"]${type}['"]`), `${type} has no registerType in its editor file`);
            assert.ok(section.includes(`data-template-name="${type}"`), `${type} has no editor template (data-template-name)`);
            assert.ok(section.includes(`data-help-name="${type}"`), `${type} has no help text (locales/en-US/<name>.html)`);
        }
    });

    it('every node has its message catalogue in en-US', async () => {
        for (const type of Object.keys(declared)) {
            const catalogue = await getJson(`/nodes/${PACKAGE_NAME}/${type}/messages?lng=en-US`);
            assert.ok(catalogue && Object.keys(catalogue).length > 0, `${type} has no message catalogue (locales/en-US/<name>.json)`);
        }
    });

    it('every icon the nodes name is served: our SVGs from the package, font-awesome ones from the editor', async () => {
        const listed: Record<string, string[]> = await getJson('/icons');
        const ours = listed[PACKAGE_NAME] ?? [];
        const fontAwesome = await getText('/vendor/font-awesome/css/font-awesome.min.css');
        let checked = 0;
        for (const type of Object.keys(declared)) {
            const section = editorSection(`${PACKAGE_NAME}/${type}`);
            const icons = [...section.matchAll(/\bicon\s*:\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
            const isConfigNode = /\bcategory\s*:\s*['"]config['"]/.test(section);
            assert.ok(icons.length > 0 || isConfigNode, `${type} names no icon`);
            for (const icon of icons) {
                checked++;
                const fa = /^font-awesome\/(fa-[\w-]+)$/.exec(icon);
                if (fa) {
                    assert.ok(fontAwesome.includes(`.${fa[1]}:before`), `${type} names ${icon}, which font-awesome 4 does not have`);
                    continue;
                }
                // Node-RED answers a missing icon with its default arrow, so check the listing and the bytes.
                assert.ok(ours.includes(icon), `${type} names the icon ${icon}, which Node-RED did not find beside ${declared[type]}`);
                const served = await getText(`/icons/${PACKAGE_NAME}/${icon}`);
                assert.equal(served, fs.readFileSync(path.join(root, 'icons', icon), 'utf8'), `${icon} is served with other contents than icons/${icon}`);
            }
        }
        assert.ok(checked > 0, 'no icon was checked');
    });

    it('each icon is built once, beside the one node that names it', () => {
        const built = (fs.readdirSync(path.join(root, 'dist', 'nodes'), { recursive: true }) as string[]).filter((file) => /\.(svg|png)$/.test(file));
        const names = built.map((file) => path.basename(file));
        assert.equal(new Set(names).size, names.length, `an icon is copied more than once: ${built.join(', ')}`);
        assert.ok(names.length > 0 && names.length <= fs.readdirSync(path.join(root, 'icons')).length, `built icons: ${built.join(', ')}`);
    });
});
