import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DemoBoat } from '../../tools/demo-boat';
import { freePort, RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { Reply, send, startHostileBoat } from './boat-on-the-network';

// The boat's edges on a started Node-RED running flows/boat.json: the helm behind a proxy that names no client,
// answers that no cache may keep, and errors that show no path of the boat's disk.

const NAME = 'd3kos.local';

/** nginx in front of Node-RED: `bare` passes Host and nothing of the client, `forwarding` adds X-Forwarded-For. */
async function startNginx(dir: string, nodeRedPort: number): Promise<{ bare: number; forwarding: number; stop: () => Promise<void> }> {
    const bare = await freePort();
    const forwarding = await freePort();
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const upstream = `proxy_pass http://127.0.0.1:${nodeRedPort}; proxy_set_header Host $host;`;
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
            `    server { listen 127.0.0.1:${bare}; location / { ${upstream} } }`,
            `    server { listen 127.0.0.1:${forwarding}; location / { ${upstream} proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; } }`,
            '}',
            '',
        ].join('\n'),
    );
    execFileSync('nginx', ['-t', '-q', '-p', dir, '-c', conf], { stdio: 'pipe' });
    const nginx: ChildProcess = spawn('nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' });
    const deadline = Date.now() + 10000;
    while (
        !(await send({ port: forwarding }, { path: '/health', host: NAME }).then(
            () => true,
            () => false,
        ))
    ) {
        if (nginx.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${fs.readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        bare,
        forwarding,
        stop: async () => {
            if (nginx.exitCode !== null) return;
            const exited = new Promise((r) => nginx.once('exit', r));
            nginx.kill('SIGQUIT');
            await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
            if (nginx.exitCode === null) nginx.kill('SIGKILL');
        },
    };
}

const json = { 'Content-Type': 'application/json' };

describe('hostile network: the helm, caches and paths at the boat’s edges', function () {
    this.timeout(180000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;
    let nginx: Awaited<ReturnType<typeof startNginx>>;

    before(async () => {
        scratch = scratchFolder('edges');
        ({ boat, nodeRed } = await startHostileBoat(scratch.dir, { D3KOS_ALLOWED_HOSTS: NAME }));
        nginx = await startNginx(path.join(scratch.dir, 'nginx'), nodeRed.port);
    });
    after(async () => {
        await nginx?.stop();
        await nodeRed?.stop();
        scratch?.remove();
    });

    it('through a proxy that passes Host but names no client, the recovery key is not minted; naming a loopback client, it is', async () => {
        const keysBefore = fs.readdirSync(path.join(boat.root)).includes('keys') ? fs.readdirSync(path.join(boat.root, 'keys')) : [];
        const guest = await send({ port: nginx.bare }, { method: 'POST', path: '/api/backup/recovery-key', host: NAME, headers: json, body: '{}' });
        assert.equal(guest.status, 403, guest.text);
        assert.equal(guest.json.code, 'HELM_ONLY');
        assert.deepEqual(fs.existsSync(path.join(boat.root, 'keys')) ? fs.readdirSync(path.join(boat.root, 'keys')) : [], keysBefore);

        const helm = await send({ port: nginx.forwarding }, { method: 'POST', path: '/api/backup/recovery-key', host: NAME, headers: json, body: '{}' });
        assert.equal(helm.status, 200, helm.text);
        assert.match(helm.json.recovery_key, /^AGE-SECRET-KEY-/);
        assert.equal(helm.headers['cache-control'], 'no-store');
    });

    it('an encrypted backup still downloads through that proxy, and no cache may keep it', async () => {
        const made = await send(nodeRed, { method: 'POST', path: '/api/backup/create', headers: json, body: '{}' });
        assert.equal(made.status, 200, made.text);
        const name = made.json.backup.name;
        assert.match(name, /\.age$/);
        const download = await send({ port: nginx.bare }, { path: `/api/backup/download/${encodeURIComponent(name)}`, host: NAME });
        assert.equal(download.status, 200, download.text.slice(0, 200));
        assert.equal(download.headers['cache-control'], 'no-store');
        const offboat = await send(nodeRed, { path: '/api/backup/offboat' });
        assert.equal(offboat.headers['cache-control'], 'no-store');
    });

    it('no answer to the LAN names a path on the boat’s disk: every read route, /health with a problem, errors', async () => {
        const showsPath = (answer: Reply) => answer.text.includes(scratch.dir) || answer.text.includes(os.tmpdir() + '/') || /"\/(?:root|home|var|tmp|opt|srv)\//.test(answer.text);
        // A problem that names a file: the license gone.
        fs.renameSync(boat.layout.license, boat.layout.license + '.away');
        try {
            // /health answers from a check a second old while it reads again: ask until it has noticed.
            let health = await send(nodeRed, { path: '/health' });
            for (let i = 0; i < 50 && health.json.status !== 'degraded'; i++) {
                await new Promise((r) => setTimeout(r, 200));
                health = await send(nodeRed, { path: '/health' });
            }
            assert.match(health.text, /license\.json was not found/);
            assert.ok(!showsPath(health), health.text);
            for (const urlPath of ['/tier/status', '/export/status', '/export/list', '/export/queue/status', '/export/history', '/api/media/status', '/api/backup/list', '/api/backup/offboat']) {
                const answer = await send(nodeRed, { path: urlPath });
                // media_dir is the one field that is a path by design (the media service's answer since the Python one).
                if (answer.json?.media_dir) answer.text = answer.text.replace(JSON.stringify(answer.json.media_dir), '""');
                assert.ok(!showsPath(answer), `${urlPath}: ${answer.text}`);
            }
        } finally {
            fs.renameSync(boat.layout.license + '.away', boat.layout.license);
        }
    });

    it('errors outside the guarded routes are JSON without a stack trace: /dashboard/%ZZ, an unrouted 6 MB POST', async () => {
        for (const urlPath of ['/dashboard/%ZZ', '/dashboard/%E0%A4%A']) {
            const answer = await send(nodeRed, { path: urlPath });
            assert.ok(answer.status >= 400 && answer.status < 500, `${urlPath}: ${answer.status}`);
            assert.match(String(answer.headers['content-type']), /application\/json/, `${urlPath}: ${answer.text.slice(0, 300)}`);
            assert.doesNotMatch(answer.text, /at |node_modules|<pre>/);
        }
        const big = await send(nodeRed, { method: 'POST', path: '/no/such/route', headers: json, body: `{"pad":"${'x'.repeat(6 * 1024 * 1024)}"}` });
        assert.equal(big.status, 413);
        assert.match(String(big.headers['content-type']), /application\/json/, big.text.slice(0, 300));
        assert.doesNotMatch(big.text, /at |node_modules/);
    });
});
