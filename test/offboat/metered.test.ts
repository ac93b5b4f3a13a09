import assert from 'node:assert/strict';
import * as path from 'path';
import { createBackup } from '../../lib/backup';
import { makeRecoveryKey } from '../../lib/crypto/keys';
import { linkAnswer } from '../../lib/link/answer';
import { BoatLink } from '../../lib/link/link';
import { readOffboatState } from '../../lib/offboat/state';
import { OffboatWorker } from '../../lib/offboat/worker';
import { backupTestBoat, BackupTestBoat } from '../backup/boat';
import { testCentral, TestCentral } from './central';

const DEVICE_TOKEN = 'device-token-for-the-metered-test-01';

describe('the off-boat copy on a metered link', function () {
    this.timeout(120000);
    let t: BackupTestBoat;
    let central: TestCentral;

    beforeEach(async () => {
        t = await backupTestBoat('offboat-metered');
        await makeRecoveryKey(t.boat.root);
        central = await testCentral(path.join(t.scratch.dir, 'central'), { [DEVICE_TOKEN]: t.boat.installationId });
    });
    afterEach(async () => {
        await central.close();
        t.scratch.remove();
    });

    async function waitingCopy(): Promise<{ worker: OffboatWorker; link: BoatLink }> {
        const link = new BoatLink(path.join(t.boat.root, 'data', 'link.json'), () => 'metered:5');
        const worker = new OffboatWorker({ link, root: t.boat.root, backupDir: () => t.boat.backupDir, centralUrl: () => central.url, token: async () => DEVICE_TOKEN });
        await createBackup(t.settings);
        assert.ok(await worker.queueNewest());
        const round = await worker.process();
        assert.deepEqual(round, { result: 'waiting', reason: 'the link is metered: the off-boat copy waits for Wi-Fi (or for backups to be allowed over this link)', tryCounted: false });
        assert.equal(central.copies.length, 0, 'nothing went');
        assert.equal(await link.bytesToday(), 0, 'not a byte, not even a health check');
        const pending = (await readOffboatState(t.boat.root)).pending!;
        assert.equal(pending.tries, 0);
        const answer = await linkAnswer(link, [], pending, null);
        assert.match(answer.waiting[0].text, /^The off-boat backup copy waits for Wi-Fi: \d/);
        return { worker, link };
    }

    it('waits, and goes when the owner allows backups over the link; its bytes are counted', async () => {
        const { worker, link } = await waitingCopy();
        await link.setChoice({ kind: 'metered', daily_budget_mb: 5, allow_backups: true });
        assert.equal((await worker.process()).result, 'sent');
        assert.equal(central.copies.length, 1);
        const size = (await readOffboatState(t.boat.root)).last_sent!.size_bytes;
        assert.ok((await link.bytesToday()) > size, 'the copy counted into today (tus-js-client through the counted agent)');
    });

    it('waits, and goes when the link is unmetered', async () => {
        const { worker, link } = await waitingCopy();
        await link.setChoice({ kind: 'unmetered', daily_budget_mb: null, allow_backups: true });
        assert.equal((await worker.process()).result, 'sent');
        assert.equal(central.copies.length, 1);
    });
});
