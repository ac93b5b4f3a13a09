import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import { runSql } from '../support/sqlite';
import { BackupBoat, postJson, startBackupBoat, stopBackupBoat } from './backup-support';
import { readExport } from '../support/exports';

// Finding: a secret value inside a database row (the device API key pasted into a boatlog entry)
// was exported verbatim.
describe('hostile network: a secret pasted into a boatlog entry', function () {
    this.timeout(180000);
    let b: BackupBoat;
    before(async () => {
        b = await startBackupBoat('hostile-export-scrub', { tier: 2 });
    });
    after(() => stopBackupBoat(b));

    it('is not in the export POST /export/generate writes, in any category', async () => {
        const deviceKey: string = JSON.parse(fs.readFileSync(b.boat.layout.cloudCredentials, 'utf8')).device_api_key;
        await runSql(
            b.boat.layout.boatlogDb,
            `INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content) VALUES ('pasted', '2026-11-30T10:00:00Z', 'text', 'new key ${deviceKey} from the office')`,
        );
        const answer = await postJson(b.nodeRed, '/export/generate', { mode: 'full' });
        assert.equal(answer.status, 200, answer.text);
        const { text, json } = readExport(answer.json.export_file);
        for (const secret of b.boat.secrets) assert.ok(!text.includes(secret), 'a secret value of the boat is in the export');
        const entry = json.data.boatlog.entries.find((e: any) => e.entry_id === 'pasted');
        assert.equal(entry.content, 'new key [redacted] from the office');
        assert.ok(!answer.text.includes(deviceKey));
    });
});
