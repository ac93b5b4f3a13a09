import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { CategoryKey } from '../../lib/categories';
import { abandonExport, ExportInProgress, parseExportMode, startExport } from '../../lib/export/export-file';
import { collectCategory } from '../../lib/export/collect-export';
import { BoatDataError } from '../../lib/errors';
import { boatConfig, handleInput, status } from './adapter';
import type { BoatConfigNode } from './boat-config';

interface CollectorDef extends NodeDef {
    boat: string;
}

/** An export being built travels on msg.export until the export node closes it. */
export function isExportInProgress(value: unknown): value is ExportInProgress {
    return typeof value === 'object' && value !== null && typeof (value as ExportInProgress).partial_file === 'string';
}

/**
 * Starts the export a message asks for, or continues the one it carries.
 * The tier is checked here as well as in the tier gate: no wiring can make
 * a tier 0 boat export.
 */
export async function exportOnMessage(boat: BoatConfigNode, msg: Record<string, any>): Promise<ExportInProgress> {
    if (msg.export !== undefined) {
        if (isExportInProgress(msg.export)) return msg.export;
        throw new BoatDataError('EXPORT_ALREADY_CLOSED', `msg.export holds the closed export ${msg.export?.export_id ?? ''}; delete msg.export to start a new one`, 400);
    }
    const requested = msg.payload && typeof msg.payload === 'object' ? msg.payload.mode : undefined;
    const mode = parseExportMode(requested ?? msg.mode);
    const exp = await startExport(boat.layout(), await boat.license(), mode);
    msg.export = exp;
    return exp;
}

/** The node type of one collector: adds its category to the export on the message. */
export function collectorNode(type: string, category: CategoryKey) {
    return function (RED: NodeAPI): void {
        function Collector(this: Node, def: CollectorDef): void {
            RED.nodes.createNode(this, def);
            const node = this;
            handleInput(node, async (msg, send) => {
                const boat = boatConfig(RED, node, def.boat);
                status.working(node, RED._('collector.status.collecting'));
                const exp = await exportOnMessage(boat, msg);
                let summary;
                try {
                    summary = await collectCategory(boat.layout(), exp, category);
                } catch (err) {
                    await abandonExport(exp);
                    throw err;
                }
                if (summary.error) {
                    // The category carries its error; the other eight still export.
                    status.warn(node, RED._('collector.status.withError', { count: summary.entry_count }));
                    node.warn(RED._('collector.warn.sourceBroken', { category, error: summary.error }));
                } else {
                    status.ok(node, RED._('collector.status.entries', { count: summary.entry_count }));
                }
                send(msg);
            });
        }
        RED.nodes.registerType(type, Collector);
    };
}
