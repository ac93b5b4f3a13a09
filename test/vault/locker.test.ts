import assert from 'node:assert/strict';
import { Pool } from 'pg';
import { MemoryLocker, PostgresLocker, VaultLocker } from '../../lib/vault/locker';
import { forEachStore } from '../ingest/stores';

// The vault's tus lockers: in memory for one instance, in PostgreSQL for several. The SQLite run is the
// memory locker (a SQLite central is one instance); the PostgreSQL run gives two lockers, as two instances have.

const never = () => new AbortController().signal;

forEachStore("the vault's locker", (kind) => {
    let lockers: [VaultLocker, VaultLocker];
    let pools: Pool[] = [];

    beforeEach(async () => {
        if (kind.name === 'SQLite') {
            const one = new MemoryLocker(2000);
            lockers = [one, one];
            return;
        }
        const url = await kind.freshDatabase();
        pools = [new Pool({ connectionString: url, max: 6 }), new Pool({ connectionString: url, max: 6 })];
        lockers = [await PostgresLocker.open(pools[0], 2000), await PostgresLocker.open(pools[1], 2000)];
    });
    afterEach(async () => {
        await Promise.all([...new Set(lockers)].map((locker) => locker.close()));
        pools = [];
    });

    it('waiters take the lock in turn as it is handed over, and the holder is asked to let go', async () => {
        const order: string[] = [];
        let asked = 0;
        const first = lockers[0].newLock('upload-1');
        await first.lock(never(), () => void asked++);
        const waiting = ['second', 'third'].map(async (name, i) => {
            const lock = lockers[(i + 1) % 2].newLock('upload-1');
            await lock.lock(never(), () => undefined);
            order.push(name);
            await new Promise((resolve) => setTimeout(resolve, 50));
            await lock.unlock();
        });
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(order, [], 'nobody has the lock while the first holds it');
        assert.ok(asked >= 1, 'the holder was asked to let go');
        await first.unlock();
        await Promise.all(waiting);
        assert.deepEqual([...order].sort(), ['second', 'third']);
    });

    it('a waiter gives up with a busy answer after its wait, and at once when its request ends', async () => {
        const held = lockers[0].newLock('upload-2');
        await held.lock(never(), () => undefined);
        const started = Date.now();
        await assert.rejects(
            lockers[1].newLock('upload-2').lock(never(), () => undefined),
            { code: 'VAULT_BUSY', statusCode: 503 },
        );
        assert.ok(Date.now() - started >= 1500);
        const ended = new AbortController();
        const waiting = lockers[1].newLock('upload-2').lock(ended.signal, () => undefined);
        setTimeout(() => ended.abort(), 100);
        await assert.rejects(waiting, { code: 'VAULT_ABORTED' });
        await held.unlock();
        // Given back: the next one gets it at once.
        const next = lockers[1].newLock('upload-2');
        await next.lock(never(), () => undefined);
        await next.unlock();
    });

    it('tryHold takes a free lock and passes over a held one without waiting or asking', async () => {
        let asked = 0;
        const held = lockers[0].newLock('upload-3');
        await held.lock(never(), () => void asked++);
        assert.equal(await lockers[1].tryHold('upload-3'), null);
        assert.equal(asked, 0);
        await held.unlock();
        const release = await lockers[1].tryHold('upload-3');
        assert.ok(release);
        await release();
    });
});
