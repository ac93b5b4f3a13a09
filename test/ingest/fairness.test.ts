import assert from 'node:assert/strict';
import * as path from 'path';
import { FLEET_READER } from '../../lib/ingest/access';
import { importJson } from '../../lib/ingest/import-export';
import { listInstallations, readCategory } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { forEachStore } from './stores';
import { smallExport } from './uploads';

// One boat's huge import does not hold the others up: on SQLite (one writer) it writes in transactions that
// let a small import in between; on PostgreSQL imports of different boats run side by side anyway.

const BIG = 'b16b16b16b16b16b';
const SMALL = '5a115a115a115a11';

/** An export of `rows` tiny telemetry rows, as the 5-million-row export of the hostile probe was made. */
function tinyRows(rows: number): string {
    const entries = Array.from({ length: rows }, (_, i) => `{"id":${i + 1}}`).join(',');
    const data = `"telemetry":{"entry_count":${rows},"entries":[${entries}]},"boatlog":{"entry_count":0,"entries":[]},"engine_benchmark":{"entry_count":0,"entries":[]},"marine_vision_captures":{"entry_count":0,"entries":[]},"marine_vision_snapshots":{"entry_count":0,"entries":[]},"qr_codes":{"entry_count":0,"entries":[]},"system_alerts":{"entry_count":0,"entries":[]},"settings":{"entry_count":0,"data":{}},"onboarding":{"entry_count":0,"data":{}}`;
    return `{"export_id":"export_tiny","installation_id":"${BIG}","tier":2,"format_version":"1.0","export_timestamp":"2026-01-01T00:00:00.000Z","mode":"full","data":{${data}}}`;
}

forEachStore('central ingest: one boat does not stall the others', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;

    before(async () => {
        scratch = scratchFolder('ingest-fairness');
        store = await kind.open(path.join(scratch.dir, 'central'), await kind.freshDatabase());
    });
    after(async () => {
        await store.close();
        scratch.remove();
    });

    it("a 5-row import finishes while another boat's 400,000-row import is still being written, and both are whole", async () => {
        const big = tinyRows(400000);
        let bigDone = 0;
        const bigImport = importJson(store, big).then((answer) => {
            bigDone = Date.now();
            return answer;
        });
        // Let the big one get going (parsed, writing its first transactions).
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const started = Date.now();
        const small = await importJson(store, smallExport(SMALL, 'export_small', 5));
        const smallDone = Date.now();
        assert.equal(small.already_imported, false);
        assert.equal((await bigImport).already_imported, false);
        assert.ok(bigDone === 0 || smallDone < bigDone, `the small import took ${smallDone - started} ms and ended ${smallDone - bigDone} ms after the big one`);
        assert.ok(bigDone > smallDone, `the big import was still under way when the small one ended (${bigDone - smallDone} ms later)`);
        assert.equal((await readCategory(store, { installation_id: BIG, category: 'telemetry', limit: 1 }, FLEET_READER)).total, 400000);
        assert.equal((await readCategory(store, { installation_id: SMALL, category: 'boatlog', limit: 10 }, FLEET_READER)).total, 5);
        assert.deepEqual(
            (await listInstallations(store, FLEET_READER)).installations.map((i) => [i.installation_id, i.export_count]),
            [
                [SMALL, 1],
                [BIG, 1],
            ].sort(),
        );
    });
});
