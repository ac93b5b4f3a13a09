'use strict';
// `npm start`: a local Node-RED with this package, the boat flow and the central ingest flow, on a
// generated demo boat (tier 2) that uploads its exports to the ingest in the same Node-RED.
// Flows changed in the editor are kept from one start to the next; `npm start -- --reset-flows` (or D3KOS_RESET_FLOWS=1)
// deploys flows/ again. Ctrl-C stops Node-RED cleanly. Settings come from the environment (see the README).
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
if (!fs.existsSync(path.join(dist, 'tools', 'node-red-runtime.js'))) {
    console.error('dist/ is missing: run npm run build first (npm start does it for you).');
    process.exit(1);
}
const { startNodeRed, DEMO_CREDENTIAL_SECRET } = require(path.join(dist, 'tools', 'node-red-runtime.js'));
const { buildDemoBoat } = require(path.join(dist, 'tools', 'demo-boat.js'));

// Each instance keeps its flows, credentials, context and central database in its own Node-RED user directory
// (D3KOS_USER_DIR), and its demo boat beside them, so two on one checkout (a boat and a central, or two boats)
// share nothing. Without D3KOS_USER_DIR: .demo/node-red, with the demo boat in .demo/.
const userDir = path.resolve(process.env.D3KOS_USER_DIR || path.join(root, '.demo', 'node-red'));
const demoDir = process.env.D3KOS_USER_DIR ? path.join(userDir, 'demo') : path.join(root, '.demo');
const ingestDir = path.resolve(process.env.D3KOS_INGEST_DIR || path.join(userDir, 'd3kos-ingest'));
const port = Number(process.env.PORT || 1880);
const host = process.env.HOST || '127.0.0.1';
const resetFlows = process.argv.includes('--reset-flows') || process.env.D3KOS_RESET_FLOWS === '1';

function loadFlows() {
    const flows = [];
    const seen = new Set();
    for (const name of ['boat.json', 'central-ingest.json']) {
        const file = path.join(root, 'flows', name);
        if (!fs.existsSync(file)) {
            console.warn(`flows/${name} is not there yet; starting without it`);
            continue;
        }
        for (const node of JSON.parse(fs.readFileSync(file, 'utf8'))) {
            if (seen.has(node.id)) throw new Error(`flows/${name} reuses the node id ${node.id}; the two flows cannot be deployed together`);
            seen.add(node.id);
            flows.push(node);
        }
    }
    return flows;
}

/** What was deployed in this user directory last time (the editor saves there), or null when there is nothing usable. */
function readDeployed(file) {
    try {
        const flows = JSON.parse(fs.readFileSync(file, 'utf8'));
        return Array.isArray(flows) && flows.length > 0 ? flows : null;
    } catch {
        return null;
    }
}

/** The credentials Node-RED saved beside those flows (a token typed in the editor), decrypted as Node-RED does, or null. */
function readCredentials(file, secret) {
    try {
        const sealed = JSON.parse(fs.readFileSync(file, 'utf8')).$;
        const key = crypto.createHash('sha256').update(secret).digest();
        const decipher = crypto.createDecipheriv('aes-256-ctr', key, Buffer.from(sealed.slice(0, 32), 'hex'));
        return JSON.parse(decipher.update(sealed.slice(32), 'base64', 'utf8') + decipher.final('utf8'));
    } catch {
        return null;
    }
}

/**
 * Which flows this start deploys. The user's own (changed in the editor) are kept, with their credentials, unless
 * told to reset (`npm start -- --reset-flows` or D3KOS_RESET_FLOWS=1); a reset keeps them aside in flows.previous.json.
 * Returns the flows, their credentials and the banner line that says which it was.
 */
function chooseFlows(userDir, shipped, shippedCredentials, reset, secret) {
    const current = path.join(userDir, 'flows.json');
    const deployed = readDeployed(current);
    const where = (file) => path.relative(process.cwd(), file) || file;
    if (!deployed) return { flows: shipped, credentials: shippedCredentials, line: 'flows      flows/boat.json and flows/central-ingest.json, deployed fresh' };
    const same = JSON.stringify(deployed) === JSON.stringify(shipped);
    if (reset) {
        if (same) return { flows: shipped, credentials: shippedCredentials, line: 'flows      flows/ deployed afresh (they were unchanged)' };
        const aside = path.join(userDir, 'flows.previous.json');
        fs.copyFileSync(current, aside);
        return { flows: shipped, credentials: shippedCredentials, line: `flows      REPLACED by flows/ (reset asked); the flows deployed before are in ${where(aside)}` };
    }
    const credentials = readCredentials(path.join(userDir, 'flows_cred.json'), secret);
    if (same) return { flows: deployed, credentials: credentials ?? shippedCredentials, line: 'flows      flows/boat.json and flows/central-ingest.json, as deployed last time' };
    return {
        flows: deployed,
        credentials: credentials ?? shippedCredentials,
        line: `flows      YOURS, as last deployed in ${where(current)} (they differ from flows/); npm start -- --reset-flows deploys flows/ instead`,
    };
}

/** The data root: D3KOS_ROOT as given (never touched), or the demo boat under .demo/, built once and reused. */
async function boatFolders() {
    if (process.env.D3KOS_ROOT) {
        const rootDir = path.resolve(process.env.D3KOS_ROOT);
        if (!fs.existsSync(path.join(rootDir, 'config', 'license.json'))) {
            console.warn(`D3KOS_ROOT=${rootDir} has no config/license.json; exports will be refused until it does`);
        }
        return { root: rootDir, mediaDir: process.env.D3KOS_MEDIA_DIR, backupDir: process.env.D3KOS_BACKUP_DIR, demo: false };
    }
    const folders = {
        root: path.join(demoDir, 'boat'),
        mediaDir: process.env.D3KOS_MEDIA_DIR || path.join(demoDir, 'camera-recordings'),
        backupDir: process.env.D3KOS_BACKUP_DIR || path.join(demoDir, 'backups'),
        demo: true,
    };
    if (fs.existsSync(path.join(folders.root, 'config', 'license.json'))) {
        console.log(`Reusing the demo boat in ${path.relative(process.cwd(), folders.root) || folders.root}`);
    } else {
        console.log('Building a demo boat (tier 2) in .demo/ ...');
        await buildDemoBoat({ root: folders.root, mediaDir: folders.mediaDir, backupDir: folders.backupDir, tier: 2 });
    }
    return folders;
}

async function main() {
    const boat = await boatFolders();
    const env = {
        D3KOS_ROOT: boat.root,
        D3KOS_CENTRAL_URL: process.env.D3KOS_CENTRAL_URL || `http://127.0.0.1:${port}`,
        D3KOS_INGEST_MODE: process.env.D3KOS_INGEST_MODE || 'open',
        D3KOS_INGEST_DIR: ingestDir,
    };
    if (boat.mediaDir) env.D3KOS_MEDIA_DIR = boat.mediaDir;
    if (boat.backupDir) env.D3KOS_BACKUP_DIR = boat.backupDir;

    // The device token is a credential of the boat's config node; it reads ${D3KOS_DEVICE_TOKEN} when used.
    const shippedCredentials = { 'd3kos-boat': { deviceToken: '${D3KOS_DEVICE_TOKEN}' } };
    const chosen = chooseFlows(userDir, loadFlows(), shippedCredentials, resetFlows, DEMO_CREDENTIAL_SECRET);
    const nodeRed = await startNodeRed({ userDir, port, host, flows: chosen.flows, env, credentials: chosen.credentials });

    const base = host === '0.0.0.0' || host === '::' ? `http://<this machine>:${port}` : nodeRed.url;
    console.log(
        [
            '',
            `d3kOS data management is running (data root ${boat.root}${boat.demo ? ', demo boat' : ''})`,
            `  editor     ${base}/`,
            `  dashboard  ${base}/dashboard/data`,
            `  API        ${base}/export/status   ${base}/export/queue/status   ${base}/tier/status   ${base}/health`,
            `  export     curl -X POST ${nodeRed.url}/export/generate`,
            `  central    ${env.D3KOS_CENTRAL_URL}/api/v1/health   (ingest folder ${ingestDir})`,
            `  user dir   ${userDir}`,
            `  ${chosen.line}`,
            'Ctrl-C stops it.',
            '',
        ].join('\n'),
    );

    let stopping = false;
    const stop = async (signal) => {
        if (stopping) return;
        stopping = true;
        console.log(`\n${signal}: stopping Node-RED ...`);
        await nodeRed.stop();
        process.exit(0);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));

    // Node-RED ending on its own is a failure: say so and exit non-zero.
    nodeRed.exited.then((code) => {
        if (stopping) return;
        console.error(`Node-RED stopped unexpectedly (exit code ${code})`);
        process.exit(1);
    });
}

main().catch((err) => {
    console.error(err && err.message ? err.message : err);
    process.exit(1);
});
