import type { Node, NodeAPI, NodeDef } from 'node-red';
import { boatConfig, handleInput, status, WorkInFlight } from '../shared/adapter';
import { BoatDataError } from '../../lib/errors';
import { tierAllows } from '../../lib/boat/license';
import { boatlogCsvBuffer, boatlogCsvFilename, csvHeaders, writeBoatlogCsv, writeBoatlogCsvFile } from '../../lib/csv/boatlog-csv';

interface BoatlogCsvDef extends NodeDef {
    boat: string;
    /** 'response': streamed into msg.res; 'file': written to a file; 'payload': a Buffer in msg.payload. */
    output: 'response' | 'file' | 'payload';
    file: string;
}

/** The boatlog is an export of the boat's data: tier 1 and up, whichever path leads here. */
const MINIMUM_TIER = 1;

export = function (RED: NodeAPI): void {
    function BoatlogCsvNode(this: Node, def: BoatlogCsvDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const output = ['response', 'file', 'payload'].includes(def.output) ? def.output : 'response';
        const inFlight = new WorkInFlight();

        handleInput(node, async (msg, send) => {
            const boat = boatConfig(RED, node, def.boat);
            const license = await boat.license();
            if (!tierAllows(license, MINIMUM_TIER)) {
                throw new BoatDataError('TIER_TOO_LOW', `Export requires Tier ${MINIMUM_TIER} or higher`, 403);
            }
            const db = boat.layout().boatlogDb;
            const filename = boatlogCsvFilename();
            status.working(node, RED._('boatlog-csv.status.writing'));
            let rows: number;

            if (output === 'file') {
                const target = typeof msg.filename === 'string' && msg.filename.trim() ? msg.filename.trim() : (def.file || '').trim();
                if (!target) throw new BoatDataError('CSV_FILE_MISSING', 'the boatlog CSV node writes to a file, but no file is set (node setting or msg.filename)', 400);
                const written = await inFlight.track(writeBoatlogCsvFile(db, target));
                rows = written.rows;
                msg.payload = { success: true, file: written.file, rows, size_bytes: written.bytes };
            } else if (output === 'payload') {
                const csv = await inFlight.track(boatlogCsvBuffer(db));
                msg.payload = csv.data;
                msg.filename = filename;
                msg.headers = csvHeaders(filename);
                rows = msg.rows = csv.rows;
            } else {
                const res = msg.res?._res;
                if (!res) throw new BoatDataError('NOT_AN_HTTP_REQUEST', 'the boatlog CSV node streams into an HTTP answer, but msg.res is missing (set it to write a file or a payload instead)', 500);
                const headers = csvHeaders(filename);
                res.status(200).set(headers);
                try {
                    const written = await inFlight.track(writeBoatlogCsv(db, res));
                    await new Promise<void>((resolve) => res.end(resolve));
                    rows = written.rows;
                    msg.payload = { success: true, filename, rows, size_bytes: written.bytes, streamed: true };
                } catch (err) {
                    // Before the first byte the flow can still answer with an error; after it, the answer is cut off.
                    if (res.headersSent) res.destroy(err instanceof Error ? err : undefined);
                    else for (const name of Object.keys(headers)) res.removeHeader(name);
                    throw err;
                } finally {
                    if (res.headersSent) delete msg.res;
                }
            }
            status.ok(node, RED._('boatlog-csv.status.done', { rows }));
            send(msg);
        });

        node.on('close', (done: () => void) => {
            // A CSV being written is finished (its temp file renamed or removed), never left half-way.
            inFlight.settled().then(() => done());
        });
    }

    RED.nodes.registerType('d3kos-boatlog-csv', BoatlogCsvNode);
};
