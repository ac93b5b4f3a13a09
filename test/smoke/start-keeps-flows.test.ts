import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { DEMO_CREDENTIAL_SECRET, freePort, packageRoot } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';

// `npm start` (scripts/start.js on the built package) keeps what the owner changed in the editor from one start to
// the next, the device token typed there included, and deploys flows/ again only when told to (--reset-flows,
// D3KOS_RESET_FLOWS=1); its banner says which flows run. Changes are made as the editor makes them: POST /flows.

function credentialsIn(userDir: string): Record<string, Record<string, string>> {
    const sealed: string = JSON.parse(fs.readFileSync(path.join(userDir, 'flows_cred.json'), 'utf8')).$;
    const key = crypto.createHash('sha256').update(DEMO_CREDENTIAL_SECRET).digest();
    const decipher = crypto.createDecipheriv('aes-256-ctr', key, Buffer.from(sealed.slice(0, 32), 'hex'));
    return JSON.parse(decipher.update(sealed.slice(32), 'base64', 'utf8') + decipher.final('utf8'));
}

describe('npm start and the flows changed in the editor', function () {
    this.timeout(240000);
    const root = packageRoot();
    let scratch: { dir: string; remove: () => void };
    let userDir: string;
    let child: ChildProcess | undefined;
    let output = '';
    let url = '';

    async function start(args: string[] = [], env: Record<string, string> = {}): Promise<string> {
        const port = await freePort();
        url = `http://127.0.0.1:${port}`;
        output = '';
        child = spawn(process.execPath, [path.join(root, 'scripts', 'start.js'), ...args], {
            cwd: root,
            env: {
                ...process.env,
                D3KOS_ROOT: '',
                D3KOS_MEDIA_DIR: '',
                D3KOS_BACKUP_DIR: '',
                D3KOS_CENTRAL_URL: '',
                D3KOS_INGEST_DIR: '',
                D3KOS_RESET_FLOWS: '',
                ...env,
                D3KOS_USER_DIR: userDir,
                PORT: String(port),
            },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        child.stdout!.on('data', (chunk) => (output += chunk));
        child.stderr!.on('data', (chunk) => (output += chunk));
        const deadline = Date.now() + 120000;
        while (!/Ctrl-C stops it/.test(output)) {
            if (child.exitCode !== null) throw new Error(`npm start exited: ${output}`);
            if (Date.now() > deadline) throw new Error(`npm start did not start: ${output}`);
            await new Promise((r) => setTimeout(r, 200));
        }
        return /^\s*flows\s+(.*)$/m.exec(output)?.[1] ?? '';
    }

    async function stop(): Promise<void> {
        if (!child || child.exitCode !== null) return;
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGINT');
        const timer = setTimeout(() => child?.kill('SIGKILL'), 25000);
        await exited;
        clearTimeout(timer);
    }

    async function deployedIds(): Promise<string[]> {
        const flows: Array<{ id: string }> = await (await fetch(`${url}/flows`, { headers: { Accept: 'application/json' } })).json();
        return flows.map((n) => n.id);
    }

    before(() => {
        scratch = scratchFolder('start-flows');
        userDir = path.join(scratch.dir, 'node-red');
    });
    after(async () => {
        await stop();
        scratch?.remove();
    });

    it('keeps a node added and a device token typed in the editor across a restart, and says so; --reset-flows deploys flows/ again', async () => {
        assert.match(await start(), /deployed fresh/);
        const flows: Array<Record<string, any>> = await (await fetch(`${url}/flows`, { headers: { Accept: 'application/json' } })).json();
        const tab = flows.find((n) => n.type === 'tab')!.id;
        const config = flows.find((n) => n.id === 'd3kos-boat')!;
        config.credentials = { deviceToken: 'owner-typed-token-1234' };
        const mine = { id: 'owners-own-note', type: 'comment', z: tab, name: 'my own change', info: '', x: 100, y: 900, wires: [] };
        const deployed = await fetch(`${url}/flows`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
            body: JSON.stringify([...flows, mine]),
        });
        assert.ok(deployed.status === 200 || deployed.status === 204, `deploy answered ${deployed.status}`);
        await stop();

        const kept = await start();
        assert.match(kept, /YOURS.*--reset-flows/, output);
        assert.ok((await deployedIds()).includes(mine.id), 'the node added in the editor is gone after a restart');
        assert.equal(credentialsIn(userDir)['d3kos-boat']?.deviceToken, 'owner-typed-token-1234', 'the device token typed in the editor was replaced');
        await stop();

        const reset = await start(['--reset-flows']);
        assert.match(reset, /REPLACED by flows\/.*flows\.previous\.json/, output);
        assert.ok(!(await deployedIds()).includes(mine.id), '--reset-flows kept the old flows');
        const aside = JSON.parse(fs.readFileSync(path.join(userDir, 'flows.previous.json'), 'utf8'));
        assert.ok(
            aside.some((n: { id: string }) => n.id === mine.id),
            'the flows replaced are not in flows.previous.json',
        );
        await stop();

        assert.match(await start([], { D3KOS_RESET_FLOWS: '1' }), /deployed afresh/);
    });
});
