import type { Node, NodeAPI, NodeDef } from 'node-red';
import { abandonExport, finishExport, removeStalePartials } from '../../lib/export/export-file';
import { completeExport } from '../../lib/export/collect-export';
import { ExportsInFlight } from '../../lib/export/in-flight';
import { errorMessage } from '../../lib/errors';
import { formatBytes } from '../../lib/format';
import { boatConfig, handleInput, status } from '../shared/adapter';
import { closeAfterExports, exportOnMessage } from '../shared/collector-node';

interface ExportDef extends NodeDef {
    boat: string;
    /** 'collect': categories no collector added are collected here; 'empty': they go out empty. */
    missing: 'collect' | 'empty';
}

/** A partial file this old at start-up was left by a crash; no export takes this long. */
const STALE_PARTIAL_MS = 15 * 60 * 1000;

export = function (RED: NodeAPI): void {
    function ExportNode(this: Node, def: ExportDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const collectMissing = def.missing !== 'empty';
        const inFlight = new ExportsInFlight();

        try {
            const layout = boatConfig(RED, node, def.boat).layout();
            // Never rejects into the runtime: an unhandled rejection here would stop Node-RED at every start.
            removeStalePartials(layout.exportFilesDir, STALE_PARTIAL_MS)
                .then(({ removed, kept }) => {
                    if (removed.length > 0) node.log(RED._('export.log.stalePartials', { count: removed.length }));
                    if (kept.length > 0) {
                        const files = kept.map((k) => `${k.name} (${k.error})`).join(', ');
                        node.warn(RED._('export.warn.stalePartialsKept', { dir: layout.exportFilesDir, files }));
                        status.warn(node, RED._('export.status.stalePartialsKept', { count: kept.length }));
                    }
                })
                .catch((err) => {
                    node.warn(RED._('export.warn.stalePartialsFailed', { dir: layout.exportFilesDir, error: errorMessage(err) }));
                    status.warn(node, RED._('export.status.stalePartialsFailed'));
                });
        } catch (err) {
            status.error(node, err);
        }

        handleInput(node, (msg, send) =>
            inFlight.run(async (work) => {
                const boat = boatConfig(RED, node, def.boat);
                status.working(node, RED._('export.status.closing'));
                const exp = await exportOnMessage(boat, msg, node, work);
                const finished = await work.keep(
                    collectMissing
                        ? await completeExport(boat.layout(), exp)
                        : await finishExport(exp).catch(async (err) => {
                              await abandonExport(exp);
                              throw err;
                          }),
                );
                msg.export = finished;
                const payload: Record<string, unknown> = {
                    success: true,
                    export_id: finished.export_id,
                    export_file: finished.export_file,
                    mode: finished.mode,
                    tier: finished.tier,
                    category_count: finished.category_count,
                    file_size_bytes: finished.file_size_bytes,
                    sha256: finished.sha256,
                    statistics: finished.statistics,
                    categories: finished.categories,
                };
                msg.payload = payload;
                const done = RED._('export.status.done', { count: finished.category_count, size: formatBytes(finished.file_size_bytes) });
                if (exp.warnings) {
                    payload.warnings = exp.warnings;
                    status.warn(node, RED._('export.status.doneWithWarning', { done }));
                } else {
                    status.ok(node, done);
                }
                send(msg);
            }),
        );
        closeAfterExports(RED, node, inFlight);
    }

    RED.nodes.registerType('d3kos-export', ExportNode);
};
