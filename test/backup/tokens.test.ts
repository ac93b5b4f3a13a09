import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { createBackup, restoreBackup } from '../../lib/backup';
import { readSecretRefs } from '../../lib/boat/secrets';
import { backupTestBoat, BackupTestBoat, boatTokens } from './boat';

// The Signal K token in vessel.env and the weather API token in user-preferences.json are handled as
// the secret files are: left out of the archive, put back from the live files on the same boat, and
// named as missing on a new card.
describe('token fields of the config files in a backup', function () {
    this.timeout(30000);
    let t: BackupTestBoat;
    beforeEach(async () => {
        t = await backupTestBoat('backup-tokens');
    });
    afterEach(() => t.scratch.remove());

    it('one reader names them as secrets, beside the secret files', async () => {
        const refs = new Map((await readSecretRefs(t.boat.layout)).map((r) => [r.ref, r.value]));
        const tokens = boatTokens(t);
        assert.equal(refs.get('vessel.env:SIGNALK_TOKEN'), tokens.signalk);
        assert.equal(refs.get('user-preferences.json:integrations.weather.api_token'), tokens.weather);
        assert.ok(!refs.has('vessel.env:VESSEL_NAME') && !refs.has('user-preferences.json:integrations.weather.provider'));
    });

    it('the archive holds neither token anywhere, and its manifest says where each was left out', async () => {
        const tokens = boatTokens(t);
        const made = await createBackup(t.settings);
        const everything = execFileSync('tar', ['-xzOf', made.backup.path], { maxBuffer: 64 << 20 }).toString('latin1');
        assert.ok(!everything.includes(tokens.signalk), 'SIGNALK_TOKEN is in the archive');
        assert.ok(!everything.includes(tokens.weather), 'the weather api_token is in the archive');
        const vessel = execFileSync('tar', ['-xzOf', made.backup.path, 'services/dashboard/config/vessel.env'], { encoding: 'utf8' });
        assert.match(vessel, /^SIGNALK_TOKEN=\[\[d3kos-secret:vessel\.env:SIGNALK_TOKEN\]\]$/m);
        assert.match(vessel, /^VESSEL_NAME="Demo Boat"$/m);
        const manifest = JSON.parse(execFileSync('tar', ['-xzOf', made.backup.path, 'manifest.json'], { encoding: 'utf8' }));
        const entry = (p: string) => manifest.files.find((f: any) => f.path === p);
        assert.deepEqual(entry('services/dashboard/config/vessel.env').secret_placeholders, ['vessel.env:SIGNALK_TOKEN']);
        assert.ok(entry('config/user-preferences.json').secret_placeholders.includes('user-preferences.json:integrations.weather.api_token'));
    });

    it('a restore onto the same boat keeps the live tokens, even ones changed since the backup', async () => {
        const made = await createBackup(t.settings);
        const vessel = fs.readFileSync(t.boat.layout.vesselEnv, 'utf8');
        const renewed = 'sk-signalk-renewed-0123456789abcdef';
        fs.writeFileSync(t.boat.layout.vesselEnv, vessel.replace(/^SIGNALK_TOKEN=.*$/m, `SIGNALK_TOKEN=${renewed}`).replace('Demo Boat', 'Renamed Boat'));
        const preferences = fs.readFileSync(t.boat.layout.preferences, 'utf8');
        const report = await restoreBackup(t.settings, made.backup.name);
        assert.deepEqual(report.secrets_missing, []);
        // The vessel name comes back from the backup, the token stays the boat's current one.
        assert.equal(fs.readFileSync(t.boat.layout.vesselEnv, 'utf8'), vessel.replace(/^SIGNALK_TOKEN=.*$/m, `SIGNALK_TOKEN=${renewed}`));
        assert.equal(fs.readFileSync(t.boat.layout.preferences, 'utf8'), preferences);
    });

    it('a restore onto a new card lists both tokens as missing and writes neither', async () => {
        const tokens = boatTokens(t);
        const made = await createBackup(t.settings);
        for (const folder of ['config', 'data', 'state', 'services']) fs.rmSync(`${t.boat.root}/${folder}`, { recursive: true, force: true });
        const report = await restoreBackup(t.settings, made.backup.name);
        assert.ok(report.secrets_missing.includes('vessel.env:SIGNALK_TOKEN'), report.secrets_missing.join());
        assert.ok(report.secrets_missing.includes('user-preferences.json:integrations.weather.api_token'), report.secrets_missing.join());
        assert.match(report.message, /Enter these secrets again: .*vessel\.env:SIGNALK_TOKEN/);
        assert.ok(!fs.readFileSync(t.boat.layout.vesselEnv, 'utf8').includes(tokens.signalk));
        assert.ok(!fs.readFileSync(t.boat.layout.preferences, 'utf8').includes(tokens.weather));
    });
});
