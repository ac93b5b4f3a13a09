import assert from 'node:assert/strict';
import { BoatHosts } from '../../lib/http/boat-hosts';
import { checkEditorRequest, EDITOR_PATHS, EditorRules } from '../../lib/http/editor-rules';

const hosts = new BoatHosts(['d3kos.local'], 10000, () => ['192.168.1.20']);
const rules: EditorRules = { allowsHost: (h) => hosts.allows(h), hostRefusal: (h) => hosts.refusal(h), allowedOrigins: ['http://helm.local:8080'] };
const check = (method: string, headers: Record<string, string>) => checkEditorRequest({ method, headers: { host: 'd3kos.local:1880', ...headers } }, rules);

describe('the editor rules while Node-RED has no adminAuth', () => {
    it("the editor's own requests pass: its page, same-origin JSON, curl on the boat", () => {
        assert.equal(check('GET', {}), null);
        assert.equal(check('GET', { referer: 'http://d3kos.local:1880/' }), null);
        assert.equal(check('POST', { origin: 'http://d3kos.local:1880', 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' }), null);
        assert.equal(check('DELETE', { origin: 'http://helm.local:8080' }), null);
        assert.equal(checkEditorRequest({ method: 'POST', headers: { host: '127.0.0.1:1880', 'content-type': 'application/json' } }, rules), null);
    });

    it('a foreign Host, Origin or Referer, a cross-site fetch, a preflight and form or text bodies are refused', () => {
        assert.equal(checkEditorRequest({ method: 'GET', headers: { host: 'evil.example' } }, rules)?.code, 'HOST_NOT_BOAT');
        for (const [method, headers] of [
            ['GET', { origin: 'http://evil.example' }],
            ['GET', { referer: 'http://evil.example/page.html' }],
            ['POST', { origin: 'null', 'content-type': 'application/json' }],
            ['POST', { referer: 'not a url' }],
            ['GET', { 'sec-fetch-site': 'cross-site' }],
            ['OPTIONS', { origin: 'http://d3kos.local:1880', 'access-control-request-method': 'POST' }],
            ['POST', { 'content-type': 'application/x-www-form-urlencoded' }],
            ['PUT', { 'content-type': 'multipart/form-data; boundary=x' }],
            ['POST', { 'content-type': 'Text/Plain; charset=utf-8' }],
        ] as Array<[string, Record<string, string>]>) {
            const refusal = check(method, headers);
            assert.equal(refusal?.statusCode, 403, `${method} ${JSON.stringify(headers)}`);
            assert.match(refusal!.message, /the Node-RED editor has no password/);
        }
    });

    it("the editor's paths: its API, its page and files, its websocket; not the boat's routes or the dashboard", () => {
        for (const p of [
            '/',
            '/flows',
            '/flow',
            '/flow/abc',
            '/nodes/node-red',
            '/settings',
            '/settings/user',
            '/auth/login',
            '/context/global/x',
            '/inject/n1',
            '/debug/view/view.html',
            '/diagnostics',
            '/plugins',
            '/icons',
            '/locales/editor',
            '/library/local/flows/x',
            '/red/red.min.js',
            '/vendor/vendor.js',
            '/comms',
            '/favicon.ico',
        ]) {
            assert.ok(EDITOR_PATHS.test(p), p);
        }
        for (const p of ['/dashboard', '/dashboard/data', '/api/backup/list', '/export/generate', '/health', '/tier/status', '/flowsx', '/comms/x']) assert.ok(!EDITOR_PATHS.test(p), p);
    });
});
