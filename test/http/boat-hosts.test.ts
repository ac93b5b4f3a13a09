import assert from 'node:assert/strict';
import * as os from 'os';
import { BoatHosts, hostName, isLoopback, parseHostList, systemNames } from '../../lib/http/boat-hosts';

describe("the boat's own names (against DNS rebinding)", () => {
    it('reads a Host header: lower case, without port, brackets or trailing dot', () => {
        assert.equal(hostName('D3KOS.local:1880'), 'd3kos.local');
        assert.equal(hostName('[::1]:1880'), '::1');
        assert.equal(hostName('192.168.1.20'), '192.168.1.20');
        assert.equal(hostName('boat.'), 'boat');
        assert.equal(hostName('fe80::1'), 'fe80::1');
        for (const bad of [undefined, '', 'a b', 'evil.example:1880, boat', 'x'.repeat(300), 'boat/x']) assert.equal(hostName(bad), null, String(bad));
    });

    it('loopback is 127.0.0.0/8, ::1 and localhost, nothing that merely starts like them', () => {
        for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopback(host), host);
        for (const host of ['127.0.0.1.nip.io', 'localhost.evil.example', '128.0.0.1', '10.0.0.1']) assert.ok(!isLoopback(host), host);
    });

    it("allows loopback, the machine's hostname, hostname.local, its addresses and the listed names; refuses the rest", () => {
        const hosts = new BoatHosts(['d3kos.local', 'helm']);
        const allowed = ['127.0.0.1:1880', 'localhost', '[::1]:1880', os.hostname(), `${os.hostname()}.local:1880`, 'd3kos.local', 'HELM:80'];
        for (const address of Object.values(os.networkInterfaces()).flat()) if (address) allowed.push(address.family === 'IPv6' ? `[${address.address}]:1880` : address.address);
        for (const host of allowed) assert.ok(hosts.allows(host), host);
        for (const host of ['evil.example:1880', `${os.hostname()}.evil.example`, 'd3kos.local.evil', '', undefined]) assert.ok(!hosts.allows(host), String(host));
        assert.match(hosts.refusal('evil.example:1880').message, /"evil\.example" as the boat.*D3KOS_ALLOWED_HOSTS/);
        assert.equal(hosts.refusal('x').statusCode, 403);
    });

    it("reads the machine's names again when they may have changed (a marina's DHCP)", () => {
        let names = ['10.0.0.5'];
        const hosts = new BoatHosts([], 0, () => names);
        assert.ok(hosts.allows('10.0.0.5'));
        names = ['10.0.0.9'];
        assert.ok(!hosts.allows('10.0.0.5'));
        assert.ok(hosts.allows('10.0.0.9'));
        assert.ok(systemNames().includes(os.hostname().toLowerCase()));
    });

    it('a list of names is read from commas or spaces; a URL or a port is refused naming it', () => {
        assert.deepEqual(parseHostList('d3kos.local, Helm  192.168.1.20,fe80::1', 'x'), ['d3kos.local', 'helm', '192.168.1.20', 'fe80::1']);
        assert.deepEqual(parseHostList(undefined, 'x'), []);
        assert.throws(() => parseHostList('http://d3kos.local', 'D3KOS_ALLOWED_HOSTS'), /D3KOS_ALLOWED_HOSTS: "http:\/\/d3kos.local" is not a host name/);
        assert.throws(() => parseHostList('d3kos.local:1880', 'the guard'), /"d3kos.local:1880" is not a host name/);
    });
});
