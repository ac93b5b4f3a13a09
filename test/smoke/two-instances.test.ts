import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { freePort, packageRoot } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';

// `npm start` twice on one checkout (two boats, or a boat and a central), each with its own D3KOS_USER_DIR:
// flows, credentials, the demo boat, its queue and the central database all stay in that instance's folders.
// Runs scripts/start.js on the built package (npm start = npm run build + that).

interface Instance {
    name: string;
    userDir: string;
    ingestDir: string;
    url: string;
    child: ChildProcess;
    output: () => string;
}

describe('two npm start instances on one checkout', function () {
    this.timeout(240000);
    const root = packageRoot();
    let scratch: { dir: string; remove: () => void };
    const instances: Instance[] = [];

    async function start(name: string, env: Record<string, string>): Promise<Instance> {
        const port = await freePort();
        const userDir = path.join(scratch.dir, name, 'node-red');
        let output = '';
        const child = spawn(process.execPath, [path.join(root, 'scripts', 'start.js')], {
            cwd: root,
            env: { ...process.env, D3KOS_ROOT: '', D3KOS_MEDIA_DIR: '', D3KOS_BACKUP_DIR: '', D3KOS_CENTRAL_URL: '', D3KOS_INGEST_DIR: '', ...env, D3KOS_USER_DIR: userDir, PORT: String(port) },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        child.stdout!.on('data', (chunk) => (output += chunk));
        child.stderr!.on('data', (chunk) => (output += chunk));
        const instance: Instance = { name, userDir, ingestDir: env.D3KOS_INGEST_DIR || path.join(userDir, 'd3kos-ingest'), url: `http://127.0.0.1:${port}`, child, output: () => output };
        instances.push(instance);
        const deadline = Date.now() + 120000;
        while (!/Ctrl-C stops it/.test(output)) {
            if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`);
            if (Date.now() > deadline) throw new Error(`${name} did not start: ${output}`);
            await new Promise((r) => setTimeout(r, 200));
        }
        return instance;
    }

    before(async () => {
        scratch = scratchFolder('two-instances');
        // One after the other: each builds its demo boat on first start.
        await start('first', {});
        await start('second', { D3KOS_INGEST_DIR: path.join(scratch.dir, 'second-central') });
    });

    after(async () => {
        await Promise.all(
            instances.map(
                (i) =>
                    new Promise<void>((resolve) => {
                        if (i.child.exitCode !== null) return resolve();
                        const timer = setTimeout(() => i.child.kill('SIGKILL'), 25000);
                        i.child.once('exit', () => {
                            clearTimeout(timer);
                            resolve();
                        });
                        i.child.kill('SIGINT');
                    }),
            ),
        );
        scratch?.remove();
    });

    it("each keeps its flows, credentials and demo boat in its own user directory, never in the checkout's .demo/", () => {
        const [first, second] = instances;
        for (const i of instances) {
            assert.ok(fs.existsSync(path.join(i.userDir, 'flows.json')), `${i.name} has no flows.json in ${i.userDir}`);
            assert.ok(fs.existsSync(path.join(i.userDir, 'flows_cred.json')), `${i.name} has no credentials file`);
            assert.ok(fs.existsSync(path.join(i.userDir, 'demo', 'boat', 'config', 'license.json')), `${i.name} has no demo boat of its own`);
            assert.match(i.output(), new RegExp(`user dir\\s+${i.userDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        }
        assert.notEqual(first.userDir, second.userDir);
    });

    it("an export on each lands in its own boat's queue and its own central database", async () => {
        for (const i of instances) {
            const res = await fetch(`${i.url}/export/generate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"mode":"full"}' });
            const body = await res.json();
            assert.equal(res.status, 200, `${i.name}: ${JSON.stringify(body)}`);
            (i as any).exportId = body.export_id;
        }
        for (const i of instances) {
            const others = instances.filter((o) => o !== i).map((o) => (o as any).exportId as string);
            // The queue file of this boat holds its own export and none of the other's.
            const queue = fs.readFileSync(path.join(i.userDir, 'demo', 'boat', 'data', 'exports', 'export_queue.json'), 'utf8');
            assert.ok(queue.includes((i as any).exportId), `${i.name}'s queue lacks its export`);
            for (const other of others) assert.ok(!queue.includes(other), `${i.name}'s queue holds the other instance's export ${other}`);
            // Uploaded to its own ingest (the demo boat uploads to the ingest of the same Node-RED).
            const deadline = Date.now() + 60000;
            for (;;) {
                const res = await fetch(`${i.url}/api/v1/exports/${(i as any).exportId}`);
                if (res.status === 200) break;
                if (Date.now() > deadline) throw new Error(`${i.name}'s export never reached its ingest (last answer ${res.status})\n${i.output()}`);
                await new Promise((r) => setTimeout(r, 500));
            }
            for (const other of others) {
                const res = await fetch(`${i.url}/api/v1/exports/${other}`);
                assert.equal(res.status, 404, `${i.name}'s central database holds the other instance's export`);
            }
            const databases = fs.readdirSync(i.ingestDir).filter((f) => /\.db$/.test(f));
            assert.ok(databases.length > 0, `${i.name}'s ingest folder ${i.ingestDir} holds no database`);
        }
        assert.ok(fs.existsSync(path.join(scratch.dir, 'second-central')), 'D3KOS_INGEST_DIR was not used');
        assert.ok(!fs.existsSync(path.join(instances[1].userDir, 'd3kos-ingest')), 'the second instance wrote a database beside its user directory despite D3KOS_INGEST_DIR');
    });
});
