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
    }
    const old = path.join(root, `.dist-old-${process.pid}`);
    if (fs.existsSync(dist)) fs.renameSync(dist, old);
    fs.renameSync(staging, dist);
    fs.rmSync(old, { recursive: true, force: true });
} finally {
    fs.rmSync(staging, { recursive: true, force: true });
}
console.log('built dist/');
