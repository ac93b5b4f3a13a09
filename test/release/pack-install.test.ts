import { strict as assert } from 'node:assert';
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { buildDemoBoat } from '../../tools/demo-boat';
import { freePort, packageRoot, PACKAGE_NAME } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';

// What a boat owner does, end to end: a fresh clone of this repository at HEAD, `npm ci`, `npm pack`, then
// the tarball installed into a separate Node-RED user directory beside the versions boats run (from the npm
// registry, through npm's cache), that Node-RED started, the boat flow deployed through its admin API, an
// export and a backup made and the Data Management page loaded. Nothing here links the working tree: only
// what the tarball ships can load. It takes minutes (sqlite3 builds from source wherever no prebuilt binary
// can be fetched). It runs on whatever Node.js runs mocha; .ci/run runs it twice, the runtime matrix:
// Node 20 + Node-RED 4.1.4 + Dashboard 1.30.2 (the defaults) and Node 22 + Node-RED 5.0 + Dashboard 1.31
// (D3KOS_RELEASE_NODE_RED, D3KOS_RELEASE_DASHBOARD).

const NODE_RED_VERSION = process.env.D3KOS_RELEASE_NODE_RED || '4.1.4';
const DASHBOARD_VERSION = process.env.D3KOS_RELEASE_DASHBOARD || '1.30.2';
const RUNTIME = `Node-RED ${NODE_RED_VERSION} and Dashboard 2.0 ${DASHBOARD_VERSION} on Node.js ${process.versions.node}`;
const MINUTE = 60 * 1000;

interface Ran {
    stdout: string;
    stderr: string;
}

function run(command: string, args: string[], cwd: string, timeoutMs = 15 * MINUTE): Promise<Ran> {
    return new Promise((resolve, reject) => {
        execFile(
            command,
            args,
            {
                cwd,
                timeout: timeoutMs,
                maxBuffer: 64 * 1024 * 1024,
                env: {
                    ...process.env,
                    npm_config_audit: 'false',
                    npm_config_fund: 'false',
                    npm_config_update_notifier: 'false',
                    // sqlite3 compiles from source where no prebuilt binary can be fetched: on every core.
                    JOBS: process.env.JOBS ?? 'max',
                },
            },
            (err, stdout, stderr) => {
                if (err) reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`));
                else resolve({ stdout, stderr });
            },
        );
    });
}

describe(`the released package, as a boat owner installs it beside ${RUNTIME}`, function () {
    this.timeout(30 * MINUTE);
    const repo = packageRoot();
    let scratch: { dir: string; remove: () => void };
    let clone: string;
    let tarball: string;
    let userDir: string;
    let nodeRedPrefix: string;
    let nodeRed: ChildProcess | undefined;
    let log = '';
    let url: string;
    let boatRoot: string;
    let backupDir: string;

    before(async function () {
        scratch = scratchFolder('release');
        clone = path.join(scratch.dir, 'clone');
        userDir = path.join(scratch.dir, 'node-red-user');
        nodeRedPrefix = path.join(scratch.dir, 'node-red-install');
        fs.mkdirSync(userDir, { recursive: true });
        fs.mkdirSync(nodeRedPrefix, { recursive: true });
        // A user directory as `node-red` leaves it: a package.json that npm installs into.
        fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', description: 'A boat', version: '0.0.1', private: true }, null, 2));
        fs.writeFileSync(path.join(nodeRedPrefix, 'package.json'), JSON.stringify({ name: 'node-red-install', version: '0.0.1', private: true }, null, 2));

        const installNodeRed = run('npm', ['install', '--prefer-offline', '--omit=dev', `node-red@${NODE_RED_VERSION}`], nodeRedPrefix);
        const packed = (async () => {
            await run('git', ['clone', '--quiet', '--no-hardlinks', repo, clone], scratch.dir);
            await run('npm', ['ci', '--prefer-offline'], clone);
            const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch.dir], clone);
            return path.join(scratch.dir, JSON.parse(stdout.slice(stdout.indexOf('[')))[0].filename);
        })();
        const [, packedFile] = await Promise.all([installNodeRed, packed]);
        tarball = packedFile;
        await run('npm', ['install', '--prefer-offline', `@flowfuse/node-red-dashboard@${DASHBOARD_VERSION}`, tarball], userDir);

        boatRoot = path.join(scratch.dir, 'boat');
        backupDir = (await buildDemoBoat({ root: boatRoot, mediaDir: path.join(scratch.dir, 'camera-recordings'), tier: 2, boatlogRows: 200, telemetryRows: 200 })).backupDir;

        const port = await freePort();
        url = `http://127.0.0.1:${port}`;
        fs.writeFileSync(
            path.join(userDir, 'settings.js'),
            `module.exports = ${JSON.stringify({ uiPort: port, uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: 'release-test', telemetry: { enabled: false, updateNotification: false }, diagnostics: { enabled: false } }, null, 4)};\n`,
        );
        nodeRed = spawn(process.execPath, [path.join(nodeRedPrefix, 'node_modules', 'node-red', 'red.js'), '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], {
            cwd: userDir,
            env: { ...process.env, D3KOS_ROOT: boatRoot, D3KOS_MEDIA_DIR: path.join(scratch.dir, 'camera-recordings'), D3KOS_BACKUP_DIR: backupDir, D3KOS_CENTRAL_URL: '' },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        nodeRed.stdout!.on('data', (chunk) => (log += chunk));
        nodeRed.stderr!.on('data', (chunk) => (log += chunk));
        await waitFor(
            async () =>
                /Started flows/.test(log) &&
                (await fetch(`${url}/settings`).then(
                    (r) => r.ok,
                    () => false,
                )),
            'Node-RED to start',
            2 * MINUTE,
        );
    });

    after(async function () {
        if (nodeRed && nodeRed.exitCode === null) {
            const exited = new Promise((resolve) => nodeRed!.once('exit', resolve));
            nodeRed.kill('SIGINT');
            await Promise.race([exited, new Promise((r) => setTimeout(r, 20000))]);
            if (nodeRed.exitCode === null) nodeRed.kill('SIGKILL');
        }
        scratch?.remove();
    });

    async function waitFor(check: () => Promise<boolean> | boolean, what: string, ms: number): Promise<void> {
        const deadline = Date.now() + ms;
        while (!(await check())) {
            if (nodeRed && nodeRed.exitCode !== null) throw new Error(`Node-RED exited while waiting for ${what}\n${log}`);
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log}`);
            await new Promise((r) => setTimeout(r, 200));
        }
    }

    it('the tarball holds the built nodes and the examples, and none of the tools, tests or TypeScript sources', async function () {
        const { stdout } = await run('tar', ['-tzf', tarball], scratch.dir);
        const files = stdout
            .split('\n')
            .filter(Boolean)
            .map((f) => f.replace(/^package\//, ''));
        const manifest = JSON.parse(fs.readFileSync(path.join(clone, 'package.json'), 'utf8'));
        for (const file of Object.values(manifest['node-red'].nodes) as string[]) assert.ok(files.includes(file), `${file} is not in the tarball`);
        for (const file of [
            'LICENSE',
            'README.md',
            'CHANGELOG.md',
            'MIGRATING.md',
            'extras/nginx/d3kos-node-red.conf',
            'package.json',
            'examples/production flows/boat.json',
            'examples/production flows/central-ingest.json',
            manifest.bin['d3kos-recover'],
        ]) {
            assert.ok(files.includes(file), `${file} is not in the tarball`);
        }
        const unwanted = files.filter((f) => /^(dist\/tools|tools|test|scripts|nodes|lib)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
        assert.deepEqual(unwanted, [], 'the tarball ships what does not run on a boat');
        const icons = files.filter((f) => f.endsWith('.svg')).map((f) => path.basename(f));
        assert.equal(new Set(icons).size, icons.length, `icons shipped more than once: ${icons.join(', ')}`);
        assert.equal(manifest.main, undefined, 'package.json names a main file');
    });

    it(`installed with npm into the user directory, every node of the package loads beside ${RUNTIME}`, async function () {
        const installed = path.join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
        assert.ok(fs.existsSync(path.join(installed, 'package.json')), 'the package is not installed in the user directory');
        assert.equal(fs.lstatSync(installed).isSymbolicLink(), false, 'the package is a link, not an install');
        const sets: Array<{ module: string; types: string[]; err?: string; enabled: boolean; version: string }> = await (
            await fetch(`${url}/nodes`, { headers: { Accept: 'application/json' } })
        ).json();
        const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
        const ours = sets.filter((s) => s.module === PACKAGE_NAME);
        assert.deepEqual(ours.flatMap((s) => s.types).sort(), Object.keys(manifest['node-red'].nodes).sort());
        for (const set of ours) assert.equal(set.err, undefined, `${set.types} failed to load: ${set.err}`);
        const dashboard = sets.filter((s) => s.module === '@flowfuse/node-red-dashboard');
        assert.ok(dashboard.length > 0 && dashboard.every((s) => s.version === DASHBOARD_VERSION && !s.err), `Dashboard 2.0 ${DASHBOARD_VERSION} did not load`);
        const settings = await (await fetch(`${url}/settings`, { headers: { Accept: 'application/json' } })).json();
        assert.equal(settings.version, NODE_RED_VERSION);
        // The one copy of each icon is served for the package (the editor asks /icons/<module>/<file>).
        const icons: Record<string, string[]> = await (await fetch(`${url}/icons`, { headers: { Accept: 'application/json' } })).json();
        const shipped = fs.readdirSync(path.join(clone, 'icons')).sort();
        assert.deepEqual([...(icons[PACKAGE_NAME] ?? [])].sort(), shipped);
        for (const icon of shipped) {
            const served = await fetch(`${url}/icons/${PACKAGE_NAME}/${icon}`);
            assert.equal(await served.text(), fs.readFileSync(path.join(clone, 'icons', icon), 'utf8'), `${icon} is not served from the install`);
        }
    });

    it('the boat flow deploys through the admin API, makes an export and serves the Data Management page', async function () {
        const flows = JSON.parse(fs.readFileSync(path.join(clone, 'flows', 'boat.json'), 'utf8'));
        // The device token goes in as the editor sends a credential, so Node-RED writes its credentials file.
        flows.find((n: { id: string }) => n.id === 'd3kos-boat').credentials = { deviceToken: '${D3KOS_DEVICE_TOKEN}' };
        const before = log.length;
        const deployed = await fetch(`${url}/flows`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
            body: JSON.stringify(flows),
        });
        assert.ok(deployed.status === 200 || deployed.status === 204, `deploy answered ${deployed.status}: ${await deployed.text()}`);
        await waitFor(() => /Started flows/.test(log.slice(before)), 'the boat flow to start', MINUTE);
        assert.doesNotMatch(log.slice(before), /Waiting for missing types|Unknown type/);

        let exported: Response | undefined;
        await waitFor(
            async () => {
                // The HTTP routes are live once the flow has started; give them the first few moments.
                exported = await fetch(`${url}/export/generate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"mode":"full"}' });
                return exported.status !== 404;
            },
            'the export route',
            30000,
        );
        const body = await exported!.json();
        assert.equal(exported!.status, 200, JSON.stringify(body));
        assert.equal(body.success, true, JSON.stringify(body));
        assert.ok(body.statistics && body.category_count > 0, JSON.stringify(body));
        const file = path.join(boatRoot, 'data', 'exports', 'exports', path.basename(body.export_file));
        assert.ok(fs.existsSync(file) || fs.existsSync(body.export_file), `the export file ${body.export_file} is not on disk`);

        const page = await fetch(`${url}/dashboard/data`);
        assert.equal(page.status, 200);
        assert.match(await page.text(), /<div id="app"|<script/i, 'the dashboard did not answer with its page');
    });

    it("a backup takes this Node-RED's flows file, with the credentials file beside it, and no boat answer lets another site read it", async function () {
        // Node-RED keeps flows_cred.json beside flows.json (4.1 and 5.0 alike); the backup node finds the flows file from Node-RED's settings.
        assert.ok(fs.existsSync(path.join(userDir, 'flows_cred.json')), 'Node-RED wrote no credentials file beside flows.json');
        const created = await fetch(`${url}/api/backup/create`, { method: 'POST' });
        const body = await created.json();
        assert.equal(created.status, 200, JSON.stringify(body));
        const { stdout } = await run('tar', ['-tzf', path.join(backupDir, body.backup.name)], scratch.dir);
        assert.ok(stdout.split('\n').includes('node-red/flows.json'), `the backup lacks node-red/flows.json:\n${stdout}`);
        // Node-RED 4.1's admin app adds Access-Control-Allow-Origin: * to every route (the guards take it off); 5.0 adds none.
        const status = await fetch(`${url}/export/status`, { headers: { Origin: 'https://evil.example' } });
        assert.equal(status.headers.get('access-control-allow-origin'), null, 'a boat answer lets another site read it');
    });
});
