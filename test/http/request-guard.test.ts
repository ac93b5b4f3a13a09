import assert from 'node:assert/strict';
import { checkRequest, originHost, parseJsonBody } from '../../lib/http/request-guard';
import { parseBodyShape } from '../../lib/http/body-shape';
import { BoatHosts } from '../../lib/http/boat-hosts';

const HOST = { host: '192.168.1.237:1880' };

function post(headers: Record<string, string>, body?: unknown) {
    return checkRequest({ method: 'POST', headers: { ...HOST, ...headers }, body });
}

describe('request guard', () => {
    it('curl -X POST with no Origin and no body passes, with an empty object as the body', () => {
        assert.deepEqual(post({}, Buffer.alloc(0)), { allowed: true, body: {} });
    });

    it('a JSON body from curl is parsed', () => {
        assert.deepEqual(post({ 'content-type': 'application/json' }, Buffer.from('{"mode":"incremental"}')), { allowed: true, body: { mode: 'incremental' } });
    });

    it("the boat's own page (Origin matches Host) passes", () => {
        assert.equal(post({ origin: 'http://192.168.1.237:1880', 'content-type': 'application/json' }, Buffer.from('{}')).allowed, true);
    });

    it('a foreign page cannot pass by naming itself in X-Forwarded-Host', () => {
        const verdict = checkRequest({
            method: 'POST',
            headers: { host: '192.168.1.237:1880', 'x-forwarded-host': 'evil.example', origin: 'http://evil.example', 'content-type': 'application/json' },
        });
        assert.equal(verdict.allowed, false);
    });

    it('a page behind a proxy passes when its origin is listed, default ports ignored', () => {
        const headers = { host: '127.0.0.1:1880', origin: 'http://192.168.1.237:80' };
        assert.equal(checkRequest({ method: 'POST', headers }).allowed, false);
        assert.equal(checkRequest({ method: 'POST', headers }, { allowedOrigins: ['http://192.168.1.237'] }).allowed, true);
    });

    it('a page from another site is refused with 403 and says which origin', () => {
        const verdict = post({ origin: 'http://evil.example', 'content-type': 'application/json' }, Buffer.from('{}'));
        assert.deepEqual(verdict, { allowed: false, statusCode: 403, error: 'cross-site request refused: a page from http://evil.example may not POST to this boat' });
    });

    it('the same host on another port is another origin, refused unless listed', () => {
        assert.equal(post({ origin: 'http://192.168.1.237:8080' }).allowed, false);
        const listed = checkRequest({ method: 'POST', headers: { ...HOST, origin: 'http://192.168.1.237:8080' } }, { allowedOrigins: ['http://192.168.1.237:8080'] });
        assert.equal(listed.allowed, true);
    });

    it('Origin: null (a sandboxed page or a file) is refused', () => {
        assert.equal(post({ origin: 'null' }).allowed, false);
    });

    it('a browser-marked cross-site request without Origin is refused', () => {
        assert.equal(post({ 'sec-fetch-site': 'cross-site' }).allowed, false);
        assert.equal(post({ 'sec-fetch-site': 'same-origin' }).allowed, true);
    });

    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain;charset=UTF-8']) {
        it(`a ${type.split(';')[0]} body is refused with 403 even without Origin (a form from another site)`, () => {
            const verdict = post({ 'content-type': type }, Buffer.from('mode=full'));
            assert.equal(verdict.allowed, false);
            assert.equal((verdict as any).statusCode, 403);
            assert.match((verdict as any).error, /send JSON or no body/);
        });
    }

    it('malformed JSON is a 400 that says so', () => {
        const verdict = post({ 'content-type': 'application/json' }, Buffer.from('{"mode":'));
        assert.equal(verdict.allowed, false);
        assert.equal((verdict as any).statusCode, 400);
        assert.match((verdict as any).error, /not valid JSON/);
    });

    it('an oversized body is a 413 and another body type a 415', () => {
        assert.equal((post({ 'content-type': 'application/json' }, Buffer.alloc(70 * 1024, 32)) as any).statusCode, 413);
        assert.equal((post({ 'content-type': 'application/xml' }, Buffer.from('<a/>')) as any).statusCode, 415);
    });

    it('GET always passes: reading is not changing', () => {
        assert.equal(checkRequest({ method: 'GET', headers: { ...HOST, origin: 'http://evil.example' } }).allowed, true);
    });

    it('an already parsed body is kept; origins that are not web origins have no host', () => {
        assert.deepEqual(parseJsonBody({ mode: 'full' }), { mode: 'full' });
        assert.equal(originHost('null'), null);
        assert.equal(originHost('file:///tmp/x.html'), null);
        assert.equal(originHost('HTTP://Boat.Local:80'), 'boat.local');
    });

    it("with the boat's names: a rebinding page is refused 403 on GET and POST alike, the boat's own name passes", () => {
        const boatHosts = new BoatHosts(['boat.local'], 10000, () => []);
        const rebinding = { host: 'evil.example:1880', origin: 'http://evil.example:1880', 'content-type': 'application/json' };
        for (const method of ['GET', 'POST']) {
            const verdict = checkRequest({ method, headers: rebinding, body: Buffer.from('{}') }, { boatHosts });
            assert.equal((verdict as any).statusCode, 403, method);
            assert.match((verdict as any).error, /not one of the boat's names/);
        }
        const own = { host: 'boat.local:1880', origin: 'http://boat.local:1880', 'content-type': 'application/json' };
        assert.equal(checkRequest({ method: 'POST', headers: own, body: Buffer.from('{}') }, { boatHosts }).allowed, true);
    });

    it('with a shape: unknown fields are a 400 naming them, the declared ones pass', () => {
        const shape = parseBodyShape('mode?: full|incremental');
        const verdict = post({ 'content-type': 'application/json' }, Buffer.from('{"mode":"full","Mode":"incremental"}'));
        assert.equal(verdict.allowed, true, 'without a shape any shallow object passes');
        const shaped = checkRequest({ method: 'POST', headers: { ...HOST, 'content-type': 'application/json' }, body: Buffer.from('{"mode":"full","Mode":"x"}') }, { shape });
        assert.deepEqual(shaped, { allowed: false, statusCode: 400, error: 'the request body is refused: unknown field "Mode" (this route takes mode?: full|incremental)' });
        assert.equal(checkRequest({ method: 'POST', headers: HOST, body: Buffer.from('{"mode":null}') }, { shape }).allowed, false);
    });

    it('a body something else already parsed must still be one shallow object', () => {
        let deep: unknown = 1;
        for (let i = 0; i < 5000; i++) deep = { a: deep };
        assert.throws(() => parseJsonBody(deep), /nests deeper than 4 levels/);
        assert.throws(() => parseJsonBody([{ dry_run: true }]), /not an array/);
        assert.throws(() => parseJsonBody(true), /not boolean/);
    });
});
