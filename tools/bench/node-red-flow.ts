import * as path from 'path';
import type { DemoBoat } from '../demo-boat';

// The Node-RED runtime from node-red-node-test-helper: the real runtime, in this process, so its RSS and event loop are ours to watch.
export const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

const COLLECTORS = ['engine-benchmark', 'boatlog', 'vision-captures', 'vision-snapshots', 'qr-codes', 'settings', 'system-alerts', 'onboarding', 'telemetry'];

/** The boat flow's export path (nine collectors in series, then the export node) deployed on a runtime. */
export async function exportFlow(boat: DemoBoat): Promise<{ exportOnce: () => Promise<any> }> {
    const nodesDir = path.resolve(__dirname, '../../nodes');
    const modules = ['config', 'export', ...COLLECTORS].map((name) => require(path.join(nodesDir, name, `${name}.js`)));
    const flow: any[] = [{ id: 'boat', type: 'd3kos-config', root: boat.root, mediaDir: boat.mediaDir }];
    COLLECTORS.forEach((type, i) => flow.push({ id: `c${i}`, type: `d3kos-${type}`, boat: 'boat', wires: [[i === COLLECTORS.length - 1 ? 'export' : `c${i + 1}`]] }));
    flow.push({ id: 'export', type: 'd3kos-export', boat: 'boat', wires: [['out']] });
    flow.push({ id: 'out', type: 'helper' });
    await helper.load(modules, flow);
    return {
        exportOnce: () =>
            new Promise((resolve, reject) => {
                const out = helper.getNode('out');
                const onError = (call: any) => reject(call.args[0]);
                for (let i = 0; i < COLLECTORS.length; i++) helper.getNode(`c${i}`).once('call:error', onError);
                out.once('input', (msg: any) => resolve(msg.payload));
                helper.getNode('c0').receive({ payload: { mode: 'full' } });
            }),
    };
}
