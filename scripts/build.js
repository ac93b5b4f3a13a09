'use strict';
// Compiles the TypeScript to CommonJS in dist/, then copies what Node-RED
// reads beside each node's .js: its editor .html, locales/ and the icon its
// editor names. Node-RED looks for icons only in an icons/ folder beside a
// node's .js (never in the package's top-level icons/), but serves every such
// folder for the whole package, so each icon goes beside the one node that
// names it: one copy of each. Builds into a private folder and swaps it in, so
// a build never leaves a half-written dist/ for a Node-RED that is starting.
// Last, the dashboard's sources (dashboard/) are written into flows/boat.json (scripts/dashboard.js) and the
// production flows are copied into examples/ (see copyFlowsToExamples).
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const staging = path.join(root, `.dist-${process.pid}`);
const PRODUCTION_EXAMPLES = 'production flows';

fs.rmSync(staging, { recursive: true, force: true });
/** icon file -> the node folder it was placed in */
const iconsPlaced = new Map();
try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', staging], {
        stdio: 'inherit',
    });
    const nodesDir = path.join(root, 'nodes');
    for (const name of fs.readdirSync(nodesDir)) {
        const source = path.join(nodesDir, name);
        if (!fs.statSync(source).isDirectory()) continue;
        const target = path.join(staging, 'nodes', name);
        fs.mkdirSync(target, { recursive: true });
        for (const entry of fs.readdirSync(source)) {
            if (entry.endsWith('.html') || entry === 'locales' || entry === 'page') {
                fs.cpSync(path.join(source, entry), path.join(target, entry), { recursive: true });
            }
        }
        const collector = path.join(source, 'collector.json');
        if (fs.existsSync(collector)) writeCollectorFiles(name, JSON.parse(fs.readFileSync(collector, 'utf8')), target);
        copyIconsNamed(name, target, iconsPlaced);
    }
    const unused = fs.readdirSync(path.join(root, 'icons')).filter((icon) => !iconsPlaced.has(icon));
    if (unused.length > 0) console.warn(`icons/ holds icons no node names (not shipped): ${unused.join(', ')}`);
    const old = path.join(root, `.dist-old-${process.pid}`);
    if (fs.existsSync(dist)) fs.renameSync(dist, old);
    fs.renameSync(staging, dist);
    fs.rmSync(old, { recursive: true, force: true });
} finally {
    fs.rmSync(staging, { recursive: true, force: true });
}
require('./dashboard').write();
copyFlowsToExamples();
console.log('built dist/');

/**
 * The icon a node's editor names (icon: 'd3kos-x.svg') goes into an icons/ folder beside its .js;
 * font-awesome icons come from the editor. An icon named but missing from icons/ fails the build.
 */
function copyIconsNamed(name, target, placed) {
    const editor = path.join(target, `${name}.html`);
    if (!fs.existsSync(editor)) return;
    const named = [...fs.readFileSync(editor, 'utf8').matchAll(/\bicon\s*:\s*['"]([^'"/]+\.(?:svg|png))['"]/g)].map((m) => m[1]);
    for (const icon of new Set(named)) {
        if (placed.has(icon)) continue; // served for the whole package from the first folder that has it
        const from = path.join(root, 'icons', icon);
        if (!fs.existsSync(from)) throw new Error(`nodes/${name}/${name}.html names the icon ${icon}, which is not in icons/`);
        fs.mkdirSync(path.join(target, 'icons'), { recursive: true });
        fs.copyFileSync(from, path.join(target, 'icons', icon));
        placed.set(icon, name);
    }
}

/**
 * flows/ holds the production flows (npm start and the end-to-end tests load them from there); Node-RED's
 * Import > Examples menu reads the package's examples/ folder, a subfolder per submenu. So the build copies
 * them to examples/production flows/, which git ignores: one hand-maintained copy.
 */
function copyFlowsToExamples() {
    const target = path.join(root, 'examples', PRODUCTION_EXAMPLES);
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(target, { recursive: true });
    for (const name of fs.readdirSync(path.join(root, 'flows')).filter((n) => n.endsWith('.json'))) {
        JSON.parse(fs.readFileSync(path.join(root, 'flows', name), 'utf8')); // a broken flow fails the build, not the import
        fs.copyFileSync(path.join(root, 'flows', name), path.join(target, name));
    }
}

/**
 * The nine collectors share one editor, one help text and one message
 * catalogue; each folder's collector.json fills in what differs.
 */
function writeCollectorFiles(name, facts, target) {
    const templates = path.join(root, 'nodes', 'shared', 'collector-templates');
    const fill = (text) => text.replace(/\{\{(\w+)\}\}/g, (_, key) => (key === 'type' ? `d3kos-${name}` : facts[key]));
    const locale = path.join(target, 'locales', 'en-US');
    fs.mkdirSync(locale, { recursive: true });
    fs.writeFileSync(path.join(target, `${name}.html`), fill(fs.readFileSync(path.join(templates, 'editor.html'), 'utf8')));
    fs.writeFileSync(path.join(locale, `${name}.html`), fill(fs.readFileSync(path.join(templates, 'locales', 'en-US', 'help.html'), 'utf8')));
    fs.copyFileSync(path.join(templates, 'locales', 'en-US', 'messages.json'), path.join(locale, `${name}.json`));
}
