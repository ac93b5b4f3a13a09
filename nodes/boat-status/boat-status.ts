import type { Node, NodeAPI, NodeDef } from 'node-red';
import { boatConfig, handleInput, status } from '../shared/adapter';
import { healthStatus, listExportFiles, tierStatus } from '../../lib/status/boat-status';
import { BoatDataError } from '../../lib/errors';

type Report = 'tier' | 'exports' | 'health';

interface BoatStatusDef extends NodeDef {
    boat: string;
    report: Report;
}

const REPORTS: Report[] = ['tier', 'exports', 'health'];

export = function (RED: NodeAPI): void {
    function BoatStatus(this: Node, def: BoatStatusDef): void {
        RED.nodes.createNode(this, def);
        const node = this;

        handleInput(node, async (msg, send) => {
            const report: Report = REPORTS.includes(msg.report) ? msg.report : def.report || 'tier';
            if (msg.report !== undefined && !REPORTS.includes(msg.report)) {
                throw new BoatDataError('REPORT_UNKNOWN', `msg.report "${msg.report}" is not one of ${REPORTS.join(', ')}`, 400);
            }
            const layout = boatConfig(RED, node, def.boat).layout();
            if (report === 'tier') {
                const tier = await tierStatus(layout);
                msg.payload = tier;
                status.ok(node, RED._('boat-status.status.tier', { tier: tier.tier }));
            } else if (report === 'exports') {
                const list = await listExportFiles(layout);
                msg.payload = list;
                status.ok(node, RED._('boat-status.status.exports', { count: list.count }));
            } else {
                const health = await healthStatus(layout);
                msg.statusCode = health.statusCode;
                msg.payload = health.body;
                (health.statusCode === 200 ? status.ok : status.warn)(node, RED._(`boat-status.status.${health.body.status}`));
            }
            send(msg);
        });
    }

    RED.nodes.registerType('d3kos-boat-status', BoatStatus);
};
