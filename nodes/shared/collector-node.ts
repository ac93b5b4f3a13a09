import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { CategoryKey } from '../../lib/categories';
import { abandonExport, ExportInProgress, parseExportMode, startExport } from '../../lib/export/export-file';
import { collectCategory } from '../../lib/export/collect-export';
import { ExportsInFlight, ExportWork } from '../../lib/export/in-flight';
import { BoatDataError } from '../../lib/errors';
import { trackWork } from '../../lib/status/problems';
import { boatConfig, handleInput, status } from './adapter';
import type { BoatConfigNode } from './boat-config';

interface CollectorDef extends NodeDef {
    boat: string;
}

/** A category that takes longer than this to collect is reported by /health. */
const CATEGORY_OVERDUE_MS = 10 * 60 * 1000;

/** An export being built travels on msg.export until the export node closes it. */
export function isExportInProgress(value: unknown): value is ExportInProgress {
    return typeof value === 'object' && value !== null && typeof (value as ExportInProgress).partial_file === 'string';
}

/**
 * Starts the export a message asks for, or continues the one it carries.
 * The tier is checked here as well as in the tier gate: no wiring can make
 * a tier 0 boat export. The node that starts an export passes on what the
 * start had to repair (a damaged watermark file set aside) as a warning.
 */
export async function exportOnMessage(boat: BoatConfigNode, msg: Record<string, any>, node: Node, work: ExportWork): Promise<ExportInProgress> {
    if (msg.export !== undefined) {
        if (isExportInProgress(msg.export)) return work.hold(msg.export);
        throw new BoatDataError('EXPORT_ALREADY_CLOSED', `msg.export holds the closed export ${msg.export?.export_id ?? ''}; delete msg.export to start a new one`, 400);
    }
    const requested = msg.payload && typeof msg.payload === 'object' ? msg.payload.mode : undefined;
    const mode = parseExportMode(requested ?? msg.mode);
    const exp = await work.hold(await startExport(boat.layout(), await boat.license(), mode));
    for (const warning of exp.warnings ?? []) node.warn(warning);
    msg.export = exp;
    return exp;
}

/**
 * How long a closing node waits for its exports: up to 30 s, but inside the
 * time Node-RED gives a close handler (nodeCloseTimeout, 15 s by default),
 * so the abandoning happens before the runtime moves on without us.
 */
export function closeWaitMs(RED: NodeAPI): number {
    const runtimeLimit = Number((RED.settings as unknown as { nodeCloseTimeout?: unknown }).nodeCloseTimeout) || 15000;
    return Math.max(500, Math.min(30000, runtimeLimit - 1000));
}

/** Registers a close handler that waits for the node's exports and abandons what does not finish in time. */
export function closeAfterExports(RED: NodeAPI, node: Node, inFlight: ExportsInFlight): void {
    node.on('close', (_removed: boolean, done: () => void) => {
        inFlight.close(closeWaitMs(RED)).then(
            (abandoned) => {
                if (abandoned.length > 0) node.warn(`Abandoned ${abandoned.length} unfinished export(s) on stop: ${abandoned.join(', ')}`);
                done();
            },
            () => done(),
        );
    });
}

/** The node type of one collector: adds its category to the export on the message. */
export function collectorNode(type: string, category: CategoryKey) {
    return function (RED: NodeAPI): void {
        function Collector(this: Node, def: CollectorDef): void {
            RED.nodes.createNode(this, def);
            const node = this;
            const inFlight = new ExportsInFlight();
            handleInput(node, (msg, send) =>
                inFlight.run(async (work) => {
                    const boat = boatConfig(RED, node, def.boat);
                    status.working(node, RED._('collector.status.collecting'));
                    const exp = await exportOnMessage(boat, msg, node, work);
                    let summary;
                    // /health tells of a category that runs far past any sane time (each source read is bounded; this is the net below).
                    const tracked = trackWork(boat.layout().exportsDir, `Collecting ${category} for ${exp.export_id}`, CATEGORY_OVERDUE_MS);
                    try {
                        summary = await collectCategory(boat.layout(), exp, category);
                        work.stillWanted();
                    } catch (err) {
                        await abandonExport(exp);
                        throw err;
                    } finally {
                        tracked.done();
                    }
                    if (summary.error) {
                        // The category carries its error; the other eight still export.
                        status.warn(node, RED._('collector.status.withError', { count: summary.entry_count }));
                        node.warn(RED._('collector.warn.sourceBroken', { category, error: summary.error }));
                    } else {
                        status.ok(node, RED._('collector.status.entries', { count: summary.entry_count }));
                    }
                    send(msg);
                }),
            );
            closeAfterExports(RED, node, inFlight);
        }
        RED.nodes.registerType(type, Collector);
    };
}
