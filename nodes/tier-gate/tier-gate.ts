import type { Node, NodeAPI, NodeDef } from 'node-red';
import { boatConfig, handleInput, status } from '../shared/adapter';
import { tierAllows } from '../../lib/boat/license';

interface TierGateDef extends NodeDef {
    boat: string;
    minimumTier: string | number;
}

export = function (RED: NodeAPI): void {
    function TierGate(this: Node, def: TierGateDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const minimum = Number(def.minimumTier ?? 1);

        handleInput(node, async (msg, send) => {
            // A broken license is an error, never a pass: done(err) below, nothing on either output.
            const license = await boatConfig(RED, node, def.boat).license();
            msg.tier = license.tier;
            msg.installation_id = license.installation_id;
            if (tierAllows(license, minimum)) {
                status.ok(node, RED._('tier-gate.status.allowed', { tier: license.tier }));
                send([msg, null]);
                return;
            }
            status.warn(node, RED._('tier-gate.status.refused', { tier: license.tier, minimum }));
            msg.statusCode = 403;
            msg.payload = {
                success: false,
                error: `Export requires Tier ${minimum} or higher`,
                tier: license.tier,
            };
            send([null, msg]);
        });
    }

    RED.nodes.registerType('d3kos-tier-gate', TierGate);
};
