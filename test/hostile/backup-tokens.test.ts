import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import { archiveContents, BackupBoat, createOverHttp, downloadOverHttp, postJson, startBackupBoat, stopBackupBoat } from './backup-support';

// Finding: backups carried SIGNALK_TOKEN (vessel.env) and integrations.weather.api_token
// (user-preferences.json) in plain text, while exports redacted them.
describe('hostile network: tokens of the config files in a downloaded backup', function () {
    this.timeout(180000);
    let b: BackupBoat;
    let tokens: { signalk: string; weather: string };

    before(async () => {
        b = await startBackupBoat('hostile-backup-tokens');
        tokens = {
            signalk: /^SIGNALK_TOKEN=(.*)$/m.exec(fs.readFileSync(b.boat.layout.vesselEnv, 'utf8'))![1],
            weather: JSON.parse(fs.readFileSync(b.boat.layout.preferences, 'utf8')).integrations.weather.api_token,
        };
    });
    after(() => stopBackupBoat(b));

    it('the archive GET /api/backup/download serves holds no secret of the boat, tokens included', async () => {
        const name = await createOverHttp(b.nodeRed);
        const everything = archiveContents(await downloadOverHttp(b, name));
        assert.ok(!everything.includes(tokens.signalk), 'SIGNALK_TOKEN is in the archive');
        assert.ok(!everything.includes(tokens.weather), 'the weather api_token is in the archive');
        for (const secret of b.boat.secrets) assert.ok(!everything.includes(secret), 'a secret value is in the archive');
        assert.ok(everything.includes('[[d3kos-secret:vessel.env:SIGNALK_TOKEN]]'));
    });

    it('restored onto a new card (no live vessel.env or preferences), both tokens are listed as missing and neither is written', async () => {
        const name = await createOverHttp(b.nodeRed);
        fs.rmSync(b.boat.layout.vesselEnv);
        fs.rmSync(b.boat.layout.preferences);
        const answer = await postJson(b.nodeRed, '/api/backup/restore', { name });
        assert.equal(answer.status, 200, answer.text);
        assert.ok(answer.json.secrets_missing.includes('vessel.env:SIGNALK_TOKEN'), answer.text);
        assert.ok(answer.json.secrets_missing.includes('user-preferences.json:integrations.weather.api_token'), answer.text);
        assert.ok(!fs.readFileSync(b.boat.layout.vesselEnv, 'utf8').includes(tokens.signalk));
        assert.ok(!fs.readFileSync(b.boat.layout.preferences, 'utf8').includes(tokens.weather));
    });

    it('restored onto the same boat, the live tokens stay', async () => {
        const name = await createOverHttp(b.nodeRed);
        const renewed = 'sk-signalk-renewed-0123456789abcdef';
        fs.writeFileSync(b.boat.layout.vesselEnv, fs.readFileSync(b.boat.layout.vesselEnv, 'utf8').replace(/^SIGNALK_TOKEN=.*$/m, `SIGNALK_TOKEN=${renewed}`));
        const answer = await postJson(b.nodeRed, '/api/backup/restore', { name });
        assert.equal(answer.status, 200, answer.text);
        assert.ok(!answer.json.secrets_missing.includes('vessel.env:SIGNALK_TOKEN'), answer.text);
        assert.match(fs.readFileSync(b.boat.layout.vesselEnv, 'utf8'), new RegExp(`^SIGNALK_TOKEN=${renewed}$`, 'm'));
    });
});
