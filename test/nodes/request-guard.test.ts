import assert from 'node:assert/strict';
import { helper, nextMessage } from '../support/node-red';
import requestGuardNode = require('../../nodes/request-guard/request-guard');

const flow = [
    { id: 'guard', type: 'd3kos-request-guard', allowedOrigins: '', allowedHosts: 'boat', body: 'mode?: full|incremental', wires: [['allowed'], ['refused']] },
    { id: 'allowed', type: 'helper' },
    { id: 'refused', type: 'helper' },
];

describe('request-guard node', () => {
    afterEach(() => helper.unload());

    it('sends a same-origin POST on with its JSON body parsed', async () => {
        await helper.load(requestGuardNode, flow);
        const received = nextMessage(helper.getNode('allowed'));
        const req = { method: 'POST', path: '/export/generate', headers: { host: 'boat:1880', origin: 'http://boat:1880', 'content-type': 'application/json' }, query: {} };
        helper.getNode('guard').receive({ req, payload: Buffer.from('{"mode":"full"}') });
        assert.deepEqual((await received).payload, { mode: 'full' });
    });

    it('answers a cross-site POST on the second output with 403 and {success:false,error}', async () => {
        await helper.load(requestGuardNode, flow);
        let passed = false;
        helper.getNode('allowed').on('input', () => (passed = true));
        const received = nextMessage(helper.getNode('refused'));
        const req = { method: 'POST', path: '/export/generate', headers: { host: 'boat:1880', origin: 'https://evil.example' }, query: {} };
        helper.getNode('guard').receive({ req, payload: Buffer.alloc(0) });
        const msg = await received;
        assert.equal(msg.statusCode, 403);
        assert.equal(msg.payload.success, false);
        assert.match(msg.payload.error, /cross-site request refused/);
        assert.equal(passed, false);
    });

    it('removes a JSONP callback from a GET so no page elsewhere can read the answer', async () => {
        await helper.load(requestGuardNode, flow);
        const received = nextMessage(helper.getNode('allowed'));
        const req = { method: 'GET', path: '/tier/status', headers: { host: 'boat:1880' }, query: { callback: 'steal', other: '1' } };
        helper.getNode('guard').receive({ req, payload: req.query });
        const msg = await received;
        assert.deepEqual(msg.req.query, { other: '1' });
    });

    it('a message that did not come from http in is an error, not a pass', async () => {
        await helper.load(requestGuardNode, flow);
        const guard = helper.getNode('guard');
        const error = new Promise<any>((resolve) => guard.on('call:error', (call: any) => resolve(call.args[0])));
        guard.receive({ payload: 'x' });
        assert.match((await error).message, /msg.req is missing/);
    });
});
