import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import { scratchFolder } from '../support/folders';
import { send } from './boat-on-the-network';
import { EditorBoat, startEditorBoat } from './editor-boat';

// Some 20,000 idle sockets from many client addresses (127.0.0.2 and up stand in for the guests on the Wi-Fi)
// against the boat's Node-RED, limited to 4,096 open files as a service could be: the helm's own page (127.0.0.1)
// still answers while they are held. Without a cap the process runs out of descriptors and refuses the helm until
// Node's header timeout frees them (75 s, seen on a boat).

const SOCKETS = 20000;
const ADDRESSES = 100;
const OPEN_FILES = 4096;

/**
 * A process holding `count` idle sockets to the boat from addresses 127.0.0.<first>… (this shell's open-file limit
 * is 20,000, so the guests are split across processes). It prints how many are open, once they are, and again
 * when asked (a line on stdin); it ends with its stdin.
 */
const GUESTS = `
const net = require('net');
const [port, first, addresses, count] = process.argv.slice(1).map(Number);
const sockets = [];
const open = () => sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
(async () => {
    for (let batch = 0; batch < count; batch += 500) {
        await Promise.all(Array.from({ length: Math.min(500, count - batch) }, (_, i) => new Promise((resolve) => {
            const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.' + (first + ((batch + i) % addresses)) });
            const timer = setTimeout(() => { socket.destroy(); resolve(); }, 10000);
            socket.on('error', () => { clearTimeout(timer); resolve(); });
            socket.once('connect', () => { clearTimeout(timer); socket.resume(); sockets.push(socket); resolve(); });
        })));
    }
    console.log('open ' + open());
    process.stdin.on('data', () => console.log('open ' + open()));
    process.stdin.on('end', () => process.exit(0));
})();
`;

interface Guests {
    /** How many of its sockets are open now. */
    open(): Promise<number>;
    stop(): void;
}

function startGuests(port: number, first: number, addresses: number, count: number): Promise<Guests> {
    const child = spawn(process.execPath, ['-e', GUESTS, String(port), String(first), String(addresses), String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines: Array<(n: number) => void> = [];
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let at: number;
        while ((at = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, at);
            buffered = buffered.slice(at + 1);
            lines.shift()?.(Number(/^open (\d+)/.exec(line)?.[1] ?? NaN));
        }
    });
    const guests: Guests = {
        open: () =>
            new Promise((resolve) => {
                lines.push(resolve);
                child.stdin!.write('\n');
            }),
        stop: () => child.stdin!.end(),
    };
    return new Promise((resolve) => lines.push(() => resolve(guests)));
}

describe('hostile network: idle sockets do not lock the helm out', function () {
    this.timeout(300000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: EditorBoat;
    const guests: Guests[] = [];

    before(async () => {
        scratch = scratchFolder('sockets');
        boat = await startEditorBoat(scratch.dir, { openFiles: OPEN_FILES });
    });
    after(async () => {
        for (const g of guests) g.stop();
        await boat?.stop();
        scratch?.remove();
    });

    it(`with ${SOCKETS} idle sockets from ${ADDRESSES} addresses held open, the helm's /health answers`, async () => {
        const half = SOCKETS / 2;
        guests.push(...(await Promise.all([startGuests(boat.port, 2, ADDRESSES / 2, half), startGuests(boat.port, 2 + ADDRESSES / 2, ADDRESSES / 2, half)])));
        await new Promise((r) => setTimeout(r, 1000));
        const started = Date.now();
        const health = await send(boat, { path: '/health' }, 20000);
        const tookMs = Date.now() - started;
        assert.ok([200, 503].includes(health.status), health.text);
        assert.equal(health.json.service, 'd3kos-node-red-data');
        const stillOpen = (await Promise.all(guests.map((g) => g.open()))).reduce((a, b) => a + b, 0);
        console.log(`      the helm answered in ${tookMs} ms; ${stillOpen} of ${SOCKETS} guest sockets still open`);
        assert.ok(stillOpen < OPEN_FILES, `${stillOpen} guest sockets held open on a process limited to ${OPEN_FILES} files`);
    });
});
