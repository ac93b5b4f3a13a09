'use strict';
// Compiles the TypeScript to CommonJS in dist/, then copies what Node-RED
// reads beside each node's .js: its editor .html, locales/ and icons.
// Builds into a private folder and swaps it in, so a build never leaves a
// half-written dist/ for a Node-RED that is starting.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const staging = path.join(root, `.dist-${process.pid}`);

fs.rmSync(staging, { recursive: true, force: true });
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
            if (entry.endsWith('.html') || entry === 'locales' || entry === 'icons') {
                fs.cpSync(path.join(source, entry), path.join(target, entry), { recursive: true });
            }
        }
        fs.cpSync(path.join(root, 'icons'), path.join(target, 'icons'), { recursive: true });
        const collector = path.join(source, 'collector.json');
        if (fs.existsSync(collector)) writeCollectorFiles(name, JSON.parse(fs.readFileSync(collector, 'utf8')), target);
    }
    const old = path.join(root, `.dist-old-${process.pid}`);
    if (fs.existsSync(dist)) fs.renameSync(dist, old);
    fs.renameSync(staging, dist);
    fs.rmSync(old, { recursive: true, force: true });
} finally {
    fs.rmSync(staging, { recursive: true, force: true });
}
console.log('built dist/');

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
