import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import { oldServiceExportBody } from '../../lib/upload/old-service-export';
import { scratchFolder } from '../support/folders';
import { readExport } from '../support/exports';

// Exports the d3kOS Python service left in the queue are sent in the current export format; the file stays as it is.

describe('exports left by the old export service', function () {
    let scratch: { dir: string; remove: () => void };
    beforeEach(() => (scratch = scratchFolder('old-export')));
    afterEach(() => scratch.remove());

    function entry(doc: unknown, sha256: string | null = null) {
        const file = path.join(scratch.dir, 'export_20260220_164416.json');
        fs.writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
        return { export_file: file, export_id: 'export_20260220_164416', tier: 2, created_at: '2026-02-20T16:44:16Z', sha256 };
    }

    const python = {
        installation_id: '3861513b314c5ee7',
        format_version: '1.0',
        export_timestamp: '2026-02-20T21:44:16.503345Z',
        data: { boatlog: [{ entry_id: 7, content: 'anchored' }], settings: { units: 'metric' }, telemetry: [] },
    };

    it("the Python service's file is sent with its export id (the file name), the queue entry's tier, lists as entries and objects as data", async () => {
        const e = entry(python);
        const body = JSON.parse((await oldServiceExportBody(e))!.toString('utf8'));
        assert.equal(body.export_id, 'export_20260220_164416');
        assert.equal(body.tier, 2);
        assert.equal(body.installation_id, '3861513b314c5ee7');
        assert.equal(body.export_timestamp, '2026-02-20T21:44:16.503345Z');
        assert.deepEqual(body.data.boatlog, { entries: [{ entry_id: 7, content: 'anchored' }] });
        assert.deepEqual(body.data.settings, { data: { units: 'metric' } });
        assert.deepEqual(body.data.qr_codes, { entries: [] }, 'a category the old file lacks is sent empty');
        assert.equal(Object.keys(body.data).length, 9);
        assert.deepEqual(readExport(e.export_file).json, python, 'the file on disk was changed');
    });

    it('an export this package made (it has a checksum) is sent as its file, never re-read', async () => {
        assert.equal(await oldServiceExportBody(entry('not even JSON', 'a'.repeat(64))), null);
    });

    it('an old entry whose file is already in the current format is sent as it is', async () => {
        const current = {
            export_id: 'x',
            tier: 1,
            data: Object.fromEntries(
                ['engine_benchmark', 'boatlog', 'marine_vision_captures', 'marine_vision_snapshots', 'qr_codes', 'settings', 'system_alerts', 'onboarding', 'telemetry'].map((k) => [
                    k,
                    { entries: [] },
                ]),
            ),
        };
        assert.equal(await oldServiceExportBody(entry(current)), null);
    });

    it('an old file that is not JSON fails with its name and the reason', async () => {
        await assert.rejects(oldServiceExportBody(entry('{"installation_id": ')), /export_20260220_164416\.json left by the old export service is not readable JSON/);
    });
});
