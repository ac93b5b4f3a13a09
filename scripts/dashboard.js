'use strict';
// The Data Management page's sources live in dashboard/ as real files (linted and formatted with the rest);
// this puts each into the `format` string of its ui-template node in flows/boat.json. A ui-template takes one
// `export default {...}` and only its data, computed, methods, watch, mounted and unmounted (no import, no
// mixins), so the methods of dashboard/shared.js are written into each part's methods in place of its
// `import { d3 } from './shared.js'` and `mixins: [d3]`.
//   node scripts/dashboard.js          writes the flow (the build runs it)
//   node scripts/dashboard.js --check  fails when the flow and the sources disagree (npm run lint runs it)
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const FLOW = path.join(root, 'flows', 'boat.json');
/** ui-template node id -> its source in dashboard/. */
const PARTS = {
    'dashboard-status-strip': 'status-strip.vue',
    'dashboard-export-upload': 'export-upload.vue',
    'dashboard-backup': 'boat-backups.vue',
    'dashboard-storage': 'camera-storage.vue',
    'dashboard-offboat': 'off-boat-copy.vue',
    'dashboard-style': 'style.css',
};
const IMPORT_SHARED = "import { d3 } from './shared.js';\n\n";
const MIXIN = '    mixins: [d3],\n';
const METHODS = '    methods: {\n';

/** The format string each template should hold, from the sources in `dir`. */
function formats(dir = path.join(root, 'dashboard')) {
    const shared = fs.readFileSync(path.join(dir, 'shared.js'), 'utf8');
    const start = shared.indexOf(METHODS);
    const end = shared.lastIndexOf('    },\n};');
    if (start < 0 || end < start) throw new Error('dashboard/shared.js must hold `export const d3 = { methods: { ... } };`');
    const methods = shared.slice(start + METHODS.length, end);
    const out = {};
    for (const [id, file] of Object.entries(PARTS)) {
        let source = fs.readFileSync(path.join(dir, file), 'utf8');
        if (source.includes(IMPORT_SHARED)) {
            if (!source.includes(MIXIN) || !source.includes(METHODS)) throw new Error(`dashboard/${file} imports shared.js but has no \`mixins: [d3]\` or no methods`);
            source = source
                .replace(IMPORT_SHARED, '')
                .replace(MIXIN, '')
                .replace(METHODS, () => METHODS + methods);
        }
        out[id] = source;
    }
    return out;
}

/** The flow with every template's format set from the sources; throws when a template named in PARTS is missing. */
function withSources(flow, wanted) {
    for (const id of Object.keys(wanted)) {
        const node = flow.find((n) => n.id === id);
        if (!node || node.type !== 'ui-template') throw new Error(`flows/boat.json has no ui-template ${id} for dashboard/${PARTS[id]}`);
        node.format = wanted[id];
    }
    return flow;
}

/** The templates whose format differs from their source, as "id (dashboard/file)". */
function disagreements(flowText, wanted) {
    const flow = JSON.parse(flowText);
    return Object.keys(wanted)
        .filter((id) => {
            const node = flow.find((n) => n.id === id);
            return !node || node.format !== wanted[id];
        })
        .map((id) => `${id} (dashboard/${PARTS[id]})`);
}

function write() {
    const text = fs.readFileSync(FLOW, 'utf8');
    const next = JSON.stringify(withSources(JSON.parse(text), formats()), null, 4) + '\n';
    if (next !== text) fs.writeFileSync(FLOW, next);
}

function check(flowFile = FLOW, dir = undefined) {
    const differ = disagreements(fs.readFileSync(flowFile, 'utf8'), formats(dir));
    if (differ.length > 0) {
        throw new Error(`${path.relative(root, flowFile)} and dashboard/ disagree for ${differ.join(', ')}: edit the files in dashboard/, then run npm run build (it writes the flow)`);
    }
}

module.exports = { check, write, formats, PARTS };

if (require.main === module) {
    try {
        if (process.argv.includes('--check')) check();
        else write();
    } catch (err) {
        console.error(err.message);
        process.exit(1);
    }
}
