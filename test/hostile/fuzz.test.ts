import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { DemoBoat } from '../../tools/demo-boat';
import { packageRoot, RunningNodeRed } from '../../tools/node-red-runtime';
import { scratchFolder } from '../support/folders';
import { filesUnder, isRunning, Reply, send, Sent, startHostileBoat } from './boat-on-the-network';

// Thousands of generated and mutated requests (methods, headers, bodies, paths) to every boat route of a started
// Node-RED running flows/boat.json: it stays up, every answer is JSON with a 2xx or 4xx status (a download's 200
// aside), and the boat's data changes only through requests it accepted. Seeded: D3KOS_FUZZ_SEED=<n> replays a
// run, D3KOS_FUZZ_COUNT sets its length.

const SEED = Number(process.env.D3KOS_FUZZ_SEED ?? 20261202);
const COUNT = Number(process.env.D3KOS_FUZZ_COUNT ?? 3000);
const WORKERS = 6;

interface Route {
    method: string;
    path: string;
    /** Bodies the route takes, as the mutations' starting points. */
    bodies: Array<Record<string, unknown>>;
    /** A 200 that is a file, not JSON. */
    download?: RegExp;
}

// The restore's name exists nowhere, so no accepted request can restore; the recordings are all new, so no
// accepted cleanup can delete one.
const ABSENT_BACKUP = 'd3kos_backup_20200101_000000.tar.gz';
const ROUTES: Route[] = [
    { method: 'POST', path: '/export/generate', bodies: [{}, { mode: 'full' }, { mode: 'incremental' }] },
    { method: 'POST', path: '/export/process-queue', bodies: [{}] },
    { method: 'POST', path: '/export/queue/process', bodies: [{}] },
    { method: 'POST', path: '/export/queue/retry-failed', bodies: [{}] },
    { method: 'POST', path: '/export/queue/cleanup', bodies: [{}] },
    { method: 'POST', path: '/api/media/cleanup', bodies: [{}, { dry_run: true }, { dry_run: false, max_age_days: 30 }] },
    { method: 'POST', path: '/api/backup/create', bodies: [{}] },
    { method: 'POST', path: '/api/backup/restore', bodies: [{ name: ABSENT_BACKUP }, { name: ABSENT_BACKUP, keep_installation_id: false }] },
    { method: 'POST', path: '/api/backup/schedule', bodies: [{}, { schedule: 'off' }, { schedule: 'weekly' }] },
    { method: 'POST', path: '/api/backup/recovery-key', bodies: [{}] },
    { method: 'POST', path: '/api/backup/offboat', bodies: [{ mode: 'off' }, { mode: 'every' }, { mode: 'weekly' }] },
    { method: 'POST', path: '/api/backup/offboat/send', bodies: [{}, { name: ABSENT_BACKUP }] },
    { method: 'GET', path: '/api/backup/offboat', bodies: [] },
    { method: 'GET', path: '/export/queue/status', bodies: [] },
    { method: 'GET', path: '/export/history', bodies: [] },
    { method: 'GET', path: '/export/status', bodies: [] },
    { method: 'GET', path: '/export/list', bodies: [] },
    { method: 'GET', path: '/tier/status', bodies: [] },
    { method: 'GET', path: '/health', bodies: [] },
    { method: 'GET', path: '/api/media/status', bodies: [] },
    { method: 'GET', path: '/api/backup/list', bodies: [] },
    { method: 'GET', path: '/api/backup/download/:name', bodies: [], download: /application\/(gzip|octet-stream)/ },
    { method: 'GET', path: '/export/boatlog/csv', bodies: [], download: /text\/csv/ },
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number) {
    let a = seed >>> 0;
    const next = () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const int = (n: number) => Math.floor(next() * n);
    return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)], chance: (p: number) => next() < p };
}
type Random = ReturnType<typeof prng>;

function randomText(r: Random, length: number): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./\\"\'{}[]:,%$<>\u00e9\u2603\u{1F6A4}\u0000\u001f';
    const letters = Array.from(alphabet);
    let text = '';
    for (let i = 0; i < length; i++) text += letters[r.int(letters.length)];
    return text;
}

function oddValue(r: Random): unknown {
    return r.pick<unknown>([null, true, false, 0, -1, 1.5, 1e308, 2 ** 53 + 2, '', 'full', 'true', ' off', [], [true], {}, { a: 1 }, randomText(r, r.int(20))]);
}

function mutatedBody(r: Random, route: Route): Buffer | string | undefined {
    const base: Record<string, unknown> = { ...(route.bodies.length > 0 ? r.pick(route.bodies) : {}) };
    const keys = Object.keys(base);
    switch (r.int(16)) {
        case 0:
            return undefined;
        case 1:
        case 2:
            return JSON.stringify(base);
        case 3: {
            const near = keys.length > 0 ? r.pick(keys) : 'mode';
            base[r.pick([near.toUpperCase(), near + ' ', ' ' + near, near.replace('_', ''), '__proto__', 'constructor', randomText(r, 6)])] = oddValue(r);
            return JSON.stringify(base);
        }
        case 4:
            if (keys.length > 0) base[r.pick(keys)] = oddValue(r);
            return JSON.stringify(base);
        case 5:
            return r.pick(['true', '123', 'null', '"full"', '[]', `[${JSON.stringify(base)}]`, '{}', ' ', '\n\t', '-0', '1e999']);
        case 6: {
            const depth = 1 + r.int(r.chance(0.5) ? 6 : 3000);
            return r.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        }
        case 7: {
            const text = JSON.stringify(base);
            return text.slice(0, r.int(text.length));
        }
        case 8:
            return Buffer.from(Array.from({ length: 1 + r.int(200) }, () => r.int(256)));
        case 9: {
            const size = r.pick([60 * 1024, 64 * 1024 - 12, 64 * 1024, 64 * 1024 + 1, 70 * 1024, 200 * 1024]);
            return JSON.stringify({ ...base, pad: 'x'.repeat(Math.max(0, size - 20)) });
        }
        case 10:
            return '\ufeff' + JSON.stringify(base);
        case 11:
            return keys.length > 0 ? `{"${keys[0]}":${JSON.stringify(base[keys[0]])},"${keys[0]}":${JSON.stringify(oddValue(r))}}` : '{"a":1,"a":2}';
        case 12:
            return keys.length > 0 ? `${keys[0]}=${String(base[keys[0]])}` : 'a=b';
        case 13:
            return `{"__proto__":{"polluted":true}${keys.length > 0 ? `,"${keys[0]}":${JSON.stringify(base[keys[0]])}` : ''}}`;
        case 14:
            return JSON.stringify(base) + r.pick([' x', '}', ',', '\u0000', '{}']);
        default:
            return randomText(r, r.int(100));
    }
}

function mutatedPath(r: Random, route: Route): string {
    let urlPath = route.path.replace(':name', r.pick(['%zz', 'd3kos%', '..%2F..%2Fetc%2Fpasswd', '%00', encodeURIComponent(randomText(r, 10)), ABSENT_BACKUP, 'BACKUP', '%E2%98%83', 'a'.repeat(300)]));
    if (r.chance(0.1)) urlPath += '/';
    if (r.chance(0.1)) urlPath = urlPath.toUpperCase();
    if (r.chance(0.2)) urlPath += r.pick(['?callback=steal', '?a=1&a=2', '?__proto__[x]=1', '?mode=full', '?%zz', '?' + encodeURIComponent(randomText(r, 10))]);
    return urlPath;
}

function mutatedHeaders(r: Random, port: number): { host: string; headers: Record<string, string> } {
    const host = r.chance(0.6)
        ? `127.0.0.1:${port}`
        : r.pick([`localhost:${port}`, `[::1]:${port}`, `evil.example:${port}`, 'evil.example', '', '127.0.0.1.evil.example', 'LOCALHOST', 'x'.repeat(300), `127.0.0.1:${port}, evil.example`]);
    const headers: Record<string, string> = {};
    const origin = r.pick([undefined, undefined, `http://${host}`, `http://evil.example:${port}`, 'null', 'file://']);
    if (origin) headers.Origin = origin;
    const type = r.pick([
        undefined,
        'application/json',
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/vnd.d3kos+json',
        'garbage/',
        'application/octet-stream',
    ]);
    if (type) headers['Content-Type'] = type;
    if (r.chance(0.1)) headers['Sec-Fetch-Site'] = r.pick(['cross-site', 'same-origin', 'none']);
    if (r.chance(0.1)) headers['X-Forwarded-Host'] = r.pick(['evil.example', `127.0.0.1:${port}`]);
    if (r.chance(0.05)) headers['Content-Encoding'] = 'gzip';
    return { host, headers };
}

function generate(r: Random, port: number): Sent & { route: Route } {
    const route = r.pick(ROUTES);
    const method = r.chance(0.75) ? route.method : r.pick(METHODS);
    const { host, headers } = mutatedHeaders(r, port);
    let body = method === 'GET' || method === 'HEAD' ? (r.chance(0.1) ? mutatedBody(r, route) : undefined) : mutatedBody(r, route);
    if (body !== undefined && r.chance(0.1)) headers['Transfer-Encoding'] = 'chunked';
    // Now and then a Content-Length that promises more than comes: the boat waits its 5 s, no longer.
    if (body !== undefined && !headers['Transfer-Encoding'] && r.chance(0.003)) headers['Content-Length'] = String(Buffer.byteLength(body) + 10);
    if (method === 'HEAD' && body !== undefined) body = undefined;
    return { route, method, path: mutatedPath(r, route), host, headers, body };
}

// Node-RED's editor and admin API, which answer without a password on a boat as shipped: a mutated request that
// carries any mark of another site (its Host, Origin or Referer, a cross-site fetch, a preflight, a form or text
// body) is refused; so nothing is deployed, and no answer grants CORS.
const ADMIN_COUNT = Number(process.env.D3KOS_FUZZ_ADMIN_COUNT ?? 1500);
const ADMIN_ROUTES: Array<{ method: string; path: string; body?: unknown }> = [
    { method: 'POST', path: '/flows', body: [] },
    { method: 'POST', path: '/flow', body: { label: 'x', nodes: [{ id: 'fz-exec', type: 'exec', command: 'id' }] } },
    { method: 'PUT', path: '/flow/d3kos-data-tab', body: { id: 'd3kos-data-tab', label: 'taken', nodes: [] } },
    { method: 'DELETE', path: '/flow/d3kos-data-tab' },
    { method: 'POST', path: '/nodes', body: { module: 'node-red-contrib-evil' } },
    { method: 'PUT', path: '/nodes/node-red', body: { enabled: false } },
    { method: 'DELETE', path: '/nodes/@d3kos/node-red-data' },
    { method: 'POST', path: '/inject/d3kos-inject', body: {} },
    { method: 'POST', path: '/debug/enable', body: { nodes: [] } },
    { method: 'DELETE', path: '/context/global/x' },
    { method: 'POST', path: '/settings/user', body: { theme: 'x' } },
    { method: 'POST', path: '/library/local/flows/evil', body: {} },
    { method: 'POST', path: '/auth/revoke', body: {} },
    { method: 'GET', path: '/flows' },
    { method: 'GET', path: '/settings' },
    { method: 'GET', path: '/nodes' },
    { method: 'GET', path: '/context/global' },
    { method: 'GET', path: '/diagnostics' },
    { method: 'GET', path: '/plugins' },
    { method: 'GET', path: '/icons' },
    { method: 'GET', path: '/locales/editor' },
    { method: 'GET', path: '/credentials/d3kos-boat/x' },
    { method: 'GET', path: '/' },
    { method: 'GET', path: '/red/red.min.js' },
];

/** One request to the editor, with at least one mark of another site when it could change something. */
function generateAdmin(r: Random, port: number): Sent & { foreign: boolean } {
    const route = r.pick(ADMIN_ROUTES);
    const method = r.chance(0.8) ? route.method : r.pick(METHODS);
    const own = `127.0.0.1:${port}`;
    const headers: Record<string, string> = {};
    let host = own;
    let body: string | undefined = route.body === undefined ? undefined : JSON.stringify(route.body);
    const marks = ['host', 'origin', 'referer', 'fetch', 'form', 'null-origin'];
    const safe = method === 'GET' || method === 'HEAD';
    const chosen = safe && r.chance(0.4) ? [] : Array.from({ length: 1 + r.int(3) }, () => r.pick(marks));
    for (const mark of chosen) {
        if (mark === 'host') host = r.pick(['evil.example', `evil.example:${port}`, '127.0.0.1.evil.example', 'x'.repeat(300), '']);
        if (mark === 'origin') headers.Origin = r.pick(['http://evil.example', `http://evil.example:${port}`, `https://127.0.0.1.evil.example:${port}`]);
        if (mark === 'null-origin') headers.Origin = 'null';
        if (mark === 'referer') headers.Referer = r.pick(['http://evil.example/prize.html', `http://evil.example:${port}/`, 'not a url']);
        if (mark === 'fetch') headers['Sec-Fetch-Site'] = 'cross-site';
        if (mark === 'form') {
            headers['Content-Type'] = r.pick(['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain', 'TEXT/PLAIN; charset=utf-8']);
            body = r.pick(['label=x&nodes[0][type]=exec&nodes[0][command]=id', '{"label":"x"}', `--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--`]);
        }
    }
    // A form body only marks a request that can carry one.
    const foreign = chosen.some((mark) => mark !== 'form') || (chosen.includes('form') && !safe) || method === 'OPTIONS';
    if (method === 'OPTIONS' && r.chance(0.7)) {
        headers.Origin ??= 'http://evil.example';
        headers['Access-Control-Request-Method'] = r.pick(['POST', 'PUT', 'DELETE']);
    }
    if (!headers['Content-Type'] && body !== undefined) headers['Content-Type'] = 'application/json';
    if (safe) body = undefined;
    return { method, path: route.path, host, headers, body, foreign };
}

describe('hostile network: fuzzing every boat route', function () {
    this.timeout(180000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;
    let nodeRed: RunningNodeRed;

    before(async () => {
        scratch = scratchFolder('hostile-fuzz');
        ({ boat, nodeRed } = await startHostileBoat(scratch.dir));
        // Every recording is new: no cleanup the fuzzer may have accepted can delete one.
        const now = new Date();
        for (const file of filesUnder(boat.mediaDir).keys()) fs.utimesSync(file, now, now);
    });
    after(async () => {
        await nodeRed?.stop();
        scratch?.remove();
    });

    it(`${COUNT} generated requests (seed ${SEED}): Node-RED stays up, answers JSON 2xx/4xx, and changes only what it accepted`, async () => {
        const r = prng(SEED);
        const requests = Array.from({ length: COUNT }, () => generate(r, nodeRed.port));
        const before = filesUnder(boat.root, boat.mediaDir, boat.backupDir);
        const accepted = new Map<string, number>();
        const problems: string[] = [];
        const forbidden = [scratch.dir, packageRoot(), '/home/', 'node_modules'];

        const check = (request: (typeof requests)[number], index: number, answer: Reply | Error) => {
            const what = `#${index} ${request.method} ${request.path} Host=${JSON.stringify(request.host)} ${JSON.stringify(request.headers)} body=${JSON.stringify(String(request.body ?? '').slice(0, 80))}`;
            if (answer instanceof Error) {
                // A body cut at the cap, or a Content-Length that lied, may close the connection mid-answer.
                const cut = Buffer.byteLength(request.body ?? '') > 64 * 1024 || request.headers?.['Content-Length'] !== undefined;
                if (!cut) problems.push(`${what}: ${answer.message}`);
                return;
            }
            const ok = answer.status >= 200 && answer.status < 300;
            if (!ok && !(answer.status >= 400 && answer.status < 500)) problems.push(`${what}: status ${answer.status} ${answer.text.slice(0, 200)}`);
            if (ok) {
                const key = `${request.method === 'HEAD' ? 'GET' : request.method} ${request.route.path}`;
                accepted.set(key, (accepted.get(key) ?? 0) + 1);
            }
            if (!ok && (forbidden.some((text) => answer.text.includes(text)) || /\n\s+at /.test(answer.text))) problems.push(`${what}: a path or stack in ${answer.text.slice(0, 300)}`);
            if (request.method === 'HEAD') return;
            const file = ok && request.route.download !== undefined && request.route.download.test(String(answer.headers['content-type']));
            if (!file && (!/application\/json/.test(String(answer.headers['content-type'])) || answer.json === undefined)) {
                problems.push(`${what}: not JSON (${answer.status} ${answer.headers['content-type']}): ${answer.text.slice(0, 200)}`);
            }
            if (!ok && !file && answer.json && (answer.json.success !== false || typeof answer.json.error !== 'string')) problems.push(`${what}: ${answer.text.slice(0, 200)}`);
        };

        let next = 0;
        const worker = async () => {
            while (next < requests.length) {
                const index = next++;
                const request = requests[index];
                check(request, index, await send(nodeRed, request, 30000).catch((err: Error) => err));
                if (!isRunning(nodeRed.pid)) throw new Error(`Node-RED ended after request ${index}\n${nodeRed.log().slice(-3000)}`);
            }
        };
        await Promise.all(Array.from({ length: WORKERS }, worker));

        assert.ok(isRunning(nodeRed.pid));
        assert.equal((await send(nodeRed, { path: '/health' })).status, 200);
        assert.deepEqual(problems.slice(0, 20), [], `${problems.length} bad answers, seed ${SEED}`);

        // What changed on disk, each change explained by a kind of request the boat accepted.
        const after = filesUnder(boat.root, boat.mediaDir, boat.backupDir);
        const changed = [...new Set([...before.keys(), ...after.keys()])].filter((file) => before.get(file) !== after.get(file));
        const explained = (file: string): boolean => {
            const inside = (dir: string) => file.startsWith(dir + path.sep);
            const any = (...routes: string[]) => routes.some((route) => accepted.has(route));
            const exporting = ['POST /export/generate', 'POST /export/process-queue', 'POST /export/queue/process', 'POST /export/queue/retry-failed', 'POST /export/queue/cleanup'];
            if (inside(boat.mediaDir)) return false;
            if (inside(boat.backupDir)) return any('POST /api/backup/create');
            if (inside(boat.layout.exportFilesDir) || file === boat.layout.queueFile || file === boat.layout.watermarksFile || file === boat.layout.historyFile) return any(...exporting);
            // SQLite's companions of a WAL database change when anyone reads it: an export, a backup, the CSV.
            if (/\.db-(wal|shm)$/.test(file)) return any('POST /export/generate', 'POST /api/backup/create', 'GET /export/boatlog/csv');
            if (file === path.join(boat.root, 'state', 'media-cleanup.json')) return any('POST /api/media/cleanup');
            if (/backup-schedule/.test(path.basename(file))) return any('POST /api/backup/schedule');
            // A recovery key made on request; the off-boat choice and what waits to go ashore.
            if (inside(path.join(boat.root, 'keys'))) return any('POST /api/backup/recovery-key', 'POST /api/backup/create');
            if (inside(path.join(boat.root, 'offboat'))) return any('POST /api/backup/offboat', 'POST /api/backup/offboat/send', 'POST /api/backup/create');
            return false;
        };
        assert.deepEqual(
            changed.filter((file) => !explained(file)),
            [],
            `changed without an accepted request (accepted: ${JSON.stringify([...accepted])})`,
        );
        console.log(`      fuzz: ${COUNT} requests, accepted ${JSON.stringify(Object.fromEntries(accepted))}, ${changed.length} files changed`);
    });

    it(`${ADMIN_COUNT} generated requests to the editor (seed ${SEED}): each with a mark of another site is refused, nothing is deployed, no answer grants CORS`, async () => {
        const r = prng(SEED + 1);
        const flowsBefore = await send(nodeRed, { path: '/flows', headers: { 'Node-RED-API-Version': 'v2' } });
        assert.equal(flowsBefore.status, 200);
        const problems: string[] = [];
        let refused = 0;
        for (let i = 0; i < ADMIN_COUNT; i++) {
            const request = generateAdmin(r, nodeRed.port);
            const what = `#${i} ${request.method} ${request.path} Host=${JSON.stringify(request.host)} ${JSON.stringify(request.headers)}`;
            const answer = await send(nodeRed, request, 30000).catch((err: Error) => err);
            if (answer instanceof Error) {
                problems.push(`${what}: ${answer.message}`);
                continue;
            }
            if (Object.keys(answer.headers).some((h) => h.startsWith('access-control-allow'))) problems.push(`${what}: grants CORS`);
            if (answer.status >= 500) problems.push(`${what}: status ${answer.status} ${answer.text.slice(0, 200)}`);
            if (!request.foreign) continue;
            refused++;
            if (answer.status !== 403 || (request.method !== 'HEAD' && answer.json?.success !== false)) problems.push(`${what}: ${answer.status} ${answer.text.slice(0, 200)}`);
            if (/\n\s+at |node_modules/.test(answer.text)) problems.push(`${what}: a path or stack in ${answer.text.slice(0, 300)}`);
            if (!isRunning(nodeRed.pid)) throw new Error(`Node-RED ended after editor request ${i}\n${nodeRed.log().slice(-3000)}`);
        }
        assert.deepEqual(problems.slice(0, 20), [], `${problems.length} bad answers, seed ${SEED}`);
        const flowsAfter = await send(nodeRed, { path: '/flows', headers: { 'Node-RED-API-Version': 'v2' } });
        assert.equal(flowsAfter.json.rev, flowsBefore.json.rev, 'the deployed flows changed');
        console.log(`      fuzz: ${ADMIN_COUNT} editor requests, ${refused} with a mark of another site, all refused`);
    });
});
