import { strict as assert } from 'assert';
import { fromHelm } from '../../lib/http/helm';

describe('helm only: a request made on the boat itself', () => {
    it('a loopback connection with no proxy headers is the helm', () => {
        assert.equal(fromHelm('127.0.0.1', { host: '127.0.0.1:1880' }), true);
        assert.equal(fromHelm('::1', { host: '[::1]:1880' }), true);
        assert.equal(fromHelm('::ffff:127.0.0.1', { host: 'localhost:1880' }), true);
    });

    it('a connection from another device on the Wi-Fi is not', () => {
        assert.equal(fromHelm('192.168.1.23', {}), false);
        assert.equal(fromHelm('fe80::1', {}), false);
        assert.equal(fromHelm(undefined, {}), false);
    });

    it('through the local proxy, the client the proxy names decides', () => {
        assert.equal(fromHelm('127.0.0.1', { host: '127.0.0.1:1880', 'x-forwarded-for': '127.0.0.1' }), true);
        assert.equal(fromHelm('127.0.0.1', { host: '127.0.0.1:1880', 'x-real-ip': '192.168.1.23' }), false);
        assert.equal(fromHelm('127.0.0.1', { host: '127.0.0.1:1880', 'x-forwarded-for': '192.168.1.23' }), false);
        assert.equal(fromHelm('127.0.0.1', { host: '127.0.0.1:1880', forwarded: 'for="[2001:db8::5]:4711";proto=http' }), false);
        assert.equal(fromHelm('127.0.0.1', { host: '127.0.0.1:1880', forwarded: 'for=127.0.0.1' }), true);
    });

    it('a forged loopback address the proxy appended a real one to is refused', () => {
        assert.equal(fromHelm('127.0.0.1', { host: '127.0.0.1:1880', 'x-forwarded-for': '127.0.0.1, 192.168.1.23' }), false);
        assert.equal(fromHelm('127.0.0.1', { host: '127.0.0.1:1880', 'x-forwarded-for': ['127.0.0.1', '10.0.0.9'] }), false);
    });

    it("a loopback connection naming the boat's own name is the helm only when the proxy names a loopback client", () => {
        assert.equal(fromHelm('127.0.0.1', { host: 'd3kos.local' }), false);
        assert.equal(fromHelm('127.0.0.1', { host: 'd3kos.local', 'x-forwarded-for': '127.0.0.1' }), true);
        assert.equal(fromHelm('127.0.0.1', { host: 'd3kos.local', forwarded: 'for=127.0.0.1;proto=http' }), true);
        assert.equal(fromHelm('127.0.0.1', { host: 'd3kos.local', 'x-forwarded-for': '192.168.1.23' }), false);
        assert.equal(fromHelm('127.0.0.1', {}), false);
        assert.equal(fromHelm('127.0.0.1', { host: 'not a name' }), false);
    });
});
