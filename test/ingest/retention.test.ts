import assert from 'node:assert/strict';
import * as path from 'path';
import { FLEET_READER } from '../../lib/ingest/access';
import { importJson } from '../../lib/ingest/import-export';
import { readCategory } from '../../lib/ingest/ingest';
import { applyRetention, parseRetention } from '../../lib/ingest/retention';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { forEachStore } from './stores';

// Retention per category on the central side, on each store: old rows go, a batch at a time, their counts
// with them; categories not named stay; imports go on while it runs.

const BOAT = 'b0a7b0a7b0a7b0a7';
const OTHER = '0743407434074340';
const DAY = 86400000;

function exportOf(installationId: string, exportId: string, exportedAt: Date, telemetryRows: number, boatlogRows: number, firstId = 1): string {
    const telemetry = Array.from({ length: telemetryRows }, (_, i) => ({ id: firstId + i, timestamp: exportedAt.toISOString(), event_type: 'engine', data: '{"rpm":1500}' }));
    const boatlog = Array.from({ length: boatlogRows }, (_, i) => ({ entry_id: firstId + i, timestamp: exportedAt.toISOString(), content: 'log' }));
    const data: Record<string, unknown> = {};
    for (const key of ['engine_benchmark', 'marine_vision_captures', 'marine_vision_snapshots', 'qr_codes', 'system_alerts']) data[key] = { entry_count: 0, entries: [] };
    data.telemetry = { entry_count: telemetry.length, entries: telemetry };
    data.boatlog = { entry_count: boatlog.length, entries: boatlog };
    data.settings = { entry_count: 0, data: {} };
    data.onboarding = { entry_count: 0, data: {} };
    return JSON.stringify({ export_id: exportId, installation_id: installationId, tier: 2, format_version: '1.0', export_timestamp: exportedAt.toISOString(), mode: 'incremental', data });
}

describe('central ingest: the retention setting', () => {
    it('reads days per category and refuses what it cannot use, naming it', () => {
        assert.deepEqual(
            [...parseRetention('telemetry=400, system_alerts: 730d')],
            [
                ['telemetry', 400],
                ['system_alerts', 730],
            ],
        );
        assert.equal(parseRetention('').size, 0);
        assert.throws(() => parseRetention('telemetrie=400'), /"telemetrie" is not a category/);
        assert.throws(() => parseRetention('telemetry=0'), /at least 1 day/);
        assert.throws(() => parseRetention('telemetry 400'), /is not <category>=<days>/);
    });
});

forEachStore('central ingest: retention', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;
    const total = async (installationId: string, category: string) => (await readCategory(store, { installation_id: installationId, category, limit: 10 }, FLEET_READER)).total;

    beforeEach(async () => {
        scratch = scratchFolder('ingest-retention');
        store = await kind.open(path.join(scratch.dir, 'central'), await kind.freshDatabase());
    });
    afterEach(async () => {
        await store.close();
        scratch.remove();
    });

    it('deletes the rows of a category exported before its days, in batches, keeps the rest and counts what is left', async () => {
        await importJson(store, exportOf(BOAT, 'old', new Date(Date.now() - 500 * DAY), 230, 40));
        await importJson(store, exportOf(BOAT, 'new', new Date(Date.now() - 10 * DAY), 30, 5, 1000));
        await importJson(store, exportOf(OTHER, 'other-old', new Date(Date.now() - 450 * DAY), 20, 0));
        const run = await applyRetention(store, parseRetention('telemetry=400'), { batchRows: 50, pauseMs: 1 });
        assert.deepEqual(run, { deleted: { telemetry: 250 }, stopped: false });
        assert.equal(await total(BOAT, 'telemetry'), 30);
        assert.equal(await total(OTHER, 'telemetry'), 0);
        assert.equal(await total(BOAT, 'boatlog'), 45, 'boatlog is kept for ever');
        const left = await readCategory(store, { installation_id: BOAT, category: 'telemetry', limit: 100 }, FLEET_READER);
        assert.deepEqual(
            left.entries.map((e: any) => e.id),
            Array.from({ length: 30 }, (_, i) => 1000 + i),
        );
        // Nothing more to delete the next time.
        assert.deepEqual(await applyRetention(store, parseRetention('telemetry=400'), { batchRows: 50 }), { deleted: { telemetry: 0 }, stopped: false });
    });

    it('an import made while retention deletes 100,000 rows finishes long before the retention does', async function () {
        this.timeout(300000);
        for (let k = 0; k < 4; k++) await importJson(store, exportOf(BOAT, `old-${k}`, new Date(Date.now() - 500 * DAY), 25000, 0, k * 25000 + 1));
        let retentionDone = 0;
        const retention = applyRetention(store, parseRetention('telemetry=400'), { batchRows: 500, pauseMs: 20 }).then((run) => {
            retentionDone = Date.now();
            return run;
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
        await importJson(store, exportOf(OTHER, 'fresh', new Date(), 5, 5));
        const importDone = Date.now();
        const run = await retention;
        assert.equal(run.deleted.telemetry, 100000);
        assert.ok(importDone < retentionDone, `the import finished ${importDone - retentionDone} ms after the retention`);
        assert.equal(await total(OTHER, 'telemetry'), 5);
    });
});
