import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import type { DemoBoat } from '../../tools/demo-boat';
import { freePort, packageRoot, RunningNodeRed } from '../../tools/node-red-runtime';
import { demoBoat, startBoat } from '../e2e/harness';
import { scratchFolder } from '../support/folders';

// The nginx snippet MIGRATING.md ships, in a real nginx (Debian's nginx-light, which .ci/run installs) in front of
// the boat flow: nginx accepts it, the old services' paths reach Node-RED, and the Host the client used arrives
// unchanged (the boat's routes check it against the boat's own names).

const SNIPPET = path.join(packageRoot(), 'extras', 'nginx', 'd3kos-node-red.conf');

function request(port: number, method: string, urlPath: string, host: string, body?: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: { Host: host, ...(body ? { 'Content-Type': 'application/json' } : {}) } }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.end(body);
    });
}

describe('the shipped nginx snippet in front of Node-RED', function () {
    this.timeout(120000);
    let scratch: { dir: string; remove: () => void };
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;
    let nginx: ChildProcess | undefined;
    let nginxLog = '';
    let port: number;

    before(async function () {
        scratch = scratchFolder('nginx');
        boat = await demoBoat(scratch.dir, { tier: 2, boatlogRows: 20, telemetryRows: 20 });
        nodeRed = await startBoat(scratch.dir, boat, {
            centralUrl: '',
            // The boat is reached by this name behind nginx: the owner lists it, as MIGRATING.md says.
            env: { D3KOS_ALLOWED_HOSTS: 'd3kos.local' },
            // A route under /export/ that answers with the Host header Node-RED received, to see what nginx passed on.
            tweak: (flow) =>
                flow.push(
                    { id: 'echo-tab', type: 'tab', label: 'echo' },
                    { id: 'echo-in', type: 'http in', z: 'echo-tab', url: '/export/echo-host', method: 'get', x: 100, y: 40, wires: [['echo-fn']] },
                    { id: 'echo-fn', type: 'change', z: 'echo-tab', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'req.headers.host', tot: 'msg' }], x: 300, y: 40, wires: [['echo-out']] },
                    { id: 'echo-out', type: 'http response', z: 'echo-tab', statusCode: '', headers: {}, x: 500, y: 40, wires: [] },
                ),
        });

        port = await freePort();
        const dir = path.join(scratch.dir, 'nginx');
        for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
        const snippet = fs.readFileSync(SNIPPET, 'utf8').replaceAll('http://127.0.0.1:1880', `http://127.0.0.1:${nodeRed.port}`);
        assert.notEqual(snippet, fs.readFileSync(SNIPPET, 'utf8'), 'the snippet does not point at 127.0.0.1:1880');
        fs.writeFileSync(path.join(dir, 'd3kos-node-red.conf'), snippet);
        const conf = path.join(dir, 'nginx.conf');
        fs.writeFileSync(
            conf,
            [
                process.getuid?.() === 0 ? 'user root;' : '',
                'worker_processes 1;',
                `pid ${dir}/nginx.pid;`,
                `error_log ${dir}/error.log;`,
                'events { worker_connections 64; }',
                'http {',
                '    access_log off;',
                `    client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
                '    server {',
                `        listen 127.0.0.1:${port};`,
                '        server_name d3kos.local;',
                `        include ${dir}/d3kos-node-red.conf;`,
                '        location / { return 404; }',
                '    }',
                '}',
                '',
            ].join('\n'),
        );
        // nginx -t: the snippet is valid inside a server block.
        execFileSync('nginx', ['-t', '-q', '-p', dir, '-c', conf], { stdio: 'pipe' });
        nginx = spawn('nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
        nginx.stdout!.on('data', (c) => (nginxLog += c));
        nginx.stderr!.on('data', (c) => (nginxLog += c));
        const deadline = Date.now() + 10000;
        for (;;) {
            const up = await request(port, 'GET', '/nothing-here', 'd3kos.local').then(
                (r) => r.status === 404,
                () => false,
            );
            if (up) break;
            if (nginx.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${nginxLog}`);
            await new Promise((r) => setTimeout(r, 100));
        }
    });

    after(async () => {
        if (nginx && nginx.exitCode === null) {
            const exited = new Promise((r) => nginx!.once('exit', r));
            nginx.kill('SIGQUIT');
            await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
            if (nginx.exitCode === null) nginx.kill('SIGKILL');
        }
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('the Host the client used reaches Node-RED unchanged', async () => {
        const echoed = await request(port, 'GET', '/export/echo-host', 'd3kos.local');
        assert.equal(echoed.status, 200, echoed.text);
        assert.equal(echoed.text, 'd3kos.local');
    });

    it('the paths the Python services answered reach Node-RED: /tier/, /export/, /api/backup/, /api/media/, /health', async () => {
        const tier = await request(port, 'GET', '/tier/status', 'd3kos.local');
        assert.equal(tier.status, 200, tier.text);
        assert.equal(JSON.parse(tier.text).tier, 2);
        const queue = await request(port, 'GET', '/export/queue/status', 'd3kos.local');
        assert.equal(queue.status, 200, queue.text);
        assert.ok('pending_count' in JSON.parse(queue.text));
        const made = await request(port, 'POST', '/export/generate', 'd3kos.local', '{"mode":"full"}');
        assert.equal(made.status, 200, made.text);
        assert.equal(JSON.parse(made.text).success, true);
        const backups = await request(port, 'GET', '/api/backup/list', 'd3kos.local');
        assert.equal(backups.status, 200, backups.text);
        assert.ok(Array.isArray(JSON.parse(backups.text).backups));
        const media = await request(port, 'GET', '/api/media/status', 'd3kos.local');
        assert.equal(media.status, 200, media.text);
        const health = await request(port, 'GET', '/health', 'd3kos.local');
        assert.ok(health.status === 200 || health.status === 503, `/health answered ${health.status}: ${health.text}`);
        assert.ok(JSON.parse(health.text).status, health.text);
    });
});
