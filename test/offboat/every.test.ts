import assert from 'node:assert/strict';
import * as path from 'path';
import sinon from 'sinon';
import { helper, nextMessage } from '../support/node-red';
import { backupTestBoat, BackupTestBoat } from '../backup/boat';
import { makeRecoveryKey } from '../../lib/crypto/keys';
import { createBackup } from '../../lib/backup';
import { testCentral, TestCentral } from './central';
import configNode = require('../../nodes/config/config');
import backupNode = require('../../nodes/backup/backup');
import offboatNode = require('../../nodes/offboat/offboat');

const TOKEN = 'device-token-for-every-backup-0001';

describe('off-boat node: "after every automatic backup" and "weekly"', function () {
    this.timeout(60000);
    let t: BackupTestBoat;
    let central: TestCentral;
    let clock: sinon.SinonFakeTimers | null = null;

    beforeEach(async () => {
        t = await backupTestBoat('offboat-every');
        central = await testCentral(path.join(t.scratch.dir, 'central'), { [TOKEN]: t.boat.installationId });
        await makeRecoveryKey(t.boat.root);
    });
    afterEach(async () => {
        await helper.unload();
        clock?.restore();
        clock = null;
        await central.close();
        t.scratch.remove();
    });

    function flow() {
        return [
            { id: 'boat', type: 'd3kos-config', root: t.boat.root, mediaDir: t.boat.mediaDir, backupDir: t.boat.backupDir, centralUrl: central.url },
            {
                id: 'backup',
                type: 'd3kos-backup',
                boat: 'boat',
                keep: 10,
                schedule: 'daily',
                requireMount: 'no',
                flowsFile: t.flowsFile,
                signalkSettings: 'none',
                signalkPluginConfig: 'none',
                wires: [['offboat'], []],
            },
            { id: 'offboat', type: 'd3kos-offboat', boat: 'boat', backupDir: '', pollSeconds: 3600, wires: [['result'], ['backup']] },
            { id: 'result', type: 'helper' },
        ];
    }

    it('the 02:00 automatic backup is encrypted and copied to the central vault, with no request from anyone', async () => {
        // The boat's clock stopped at 01:59:59 (timers stay real): the backup node's job runs a real second later.
        clock = sinon.useFakeTimers({ now: new Date(2026, 10, 22, 1, 59, 59, 0), toFake: ['Date'] });
        await helper.load([configNode, backupNode, offboatNode], flow(), { boat: { deviceToken: TOKEN } });
        const answer = nextMessage(helper.getNode('result'));
        helper.getNode('offboat').receive({ action: 'offboat', payload: { mode: 'every' } });
        assert.equal((await answer).payload.mode, 'every');
        const sent = nextMessage(helper.getNode('result'), 30000);
        await new Promise((resolve) => setTimeout(resolve, 200));
        clock.tick(1000);
        const msg = await sent;
        assert.equal(msg.topic, 'offboat/sent');
        assert.equal(central.copies.length, 1);
        assert.match(central.copies[0].copy.name, /^d3kos_backup_\d{8}_\d{6}\.tar\.gz\.age$/);
        assert.equal(central.copies[0].installation, t.boat.installationId);
    });

    it('"weekly" sends the newest encrypted backup on Sunday at 03:00', async () => {
        const older = await createBackup({ ...t.settings, now: () => new Date('2026-11-20T02:00:00Z') });
        const newest = await createBackup({ ...t.settings, now: () => new Date('2026-11-21T02:00:00Z') });
        assert.notEqual(older.backup.name, newest.backup.name);
        // Sunday 22 Nov 2026, 02:59:59 on the boat's clock.
        clock = sinon.useFakeTimers({ now: new Date(2026, 10, 22, 2, 59, 59, 0), toFake: ['Date'] });
        await helper.load([configNode, backupNode, offboatNode], flow(), { boat: { deviceToken: TOKEN } });
        const answer = nextMessage(helper.getNode('result'));
        helper.getNode('offboat').receive({ action: 'offboat', payload: { mode: 'weekly' } });
        assert.equal((await answer).payload.mode, 'weekly');
        assert.equal(central.copies.length, 0);
        const sent = nextMessage(helper.getNode('result'), 30000);
        await new Promise((resolve) => setTimeout(resolve, 200));
        clock.tick(1000);
        assert.equal((await sent).topic, 'offboat/sent');
        assert.deepEqual(
            central.copies.map((c) => c.copy.name),
            [newest.backup.name],
        );
    });
});
