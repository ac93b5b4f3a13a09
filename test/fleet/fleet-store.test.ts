import assert from 'node:assert/strict';
import { registerVault } from '../../lib/central/vault-registry';
import { fleetBoats } from '../../lib/fleet/fleet-boats';
import { IngestSettings, receiveUpload } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { forEachStore } from '../ingest/stores';
import { smallExport } from '../ingest/uploads';
import { boatId, hoursAgo, seedImport } from './seed';

forEachStore('fleet page: the boats, the longest silent first', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;
    const now = new Date('2026-12-07T12:00:00.000Z');

    beforeEach(async () => {
        scratch = scratchFolder('fleet-store');
        store = await kind.open(scratch.dir, await kind.freshDatabase());
    });

    afterEach(async () => {
        await store.close();
        scratch.remove();
    });

    it('lists a boat silent for ten days first, with its rows per category, refused imports and backlog', async () => {
        const silent = boatId('a');
        const recent = boatId('b');
        const hoursOld = boatId('c');
        await seedImport(store, { installation_id: silent, imported_at: hoursAgo(now, 240), exported_at: hoursAgo(now, 241), rows: { boatlog: 3, telemetry: 5 } });
        await seedImport(store, { installation_id: recent, imported_at: hoursAgo(now, 1) });
        await seedImport(store, { installation_id: hoursOld, imported_at: hoursAgo(now, 3) });
        await store.recordFailure({ installation_id: recent, export_id: 'export_bad', failed_at: hoursAgo(now, 0.5), status: 400, error: 'the export is not valid: tier is missing' });
        await store.recordBacklog(silent, { exports: 3, bytes: 12345 }, hoursAgo(now, 240));

        const answer = await fleetBoats(store, { silent_hours: 48 }, now);

        assert.deepEqual(
            answer.boats.map((b) => b.installation_id),
            [silent, hoursOld, recent],
        );
        assert.equal(answer.total, 3);
        assert.equal(answer.silent, 1);
        const [first, , last] = answer.boats;
        assert.equal(first.silent, true);
        assert.equal(first.last_import_at, hoursAgo(now, 240));
        assert.equal(first.newest_exported_at, hoursAgo(now, 241));
        assert.deepEqual(first.rows, { boatlog: 3, telemetry: 5 });
        assert.deepEqual(first.backlog, { exports: 3, bytes: 12345, reported_at: hoursAgo(now, 240) });
        assert.equal(first.refused.count, 0);
        assert.equal(last.silent, false);
        assert.equal(last.refused.count, 1);
        assert.equal(last.refused.newest?.error, 'the export is not valid: tier is missing');
        assert.equal(last.refused.newest?.status, 400);
        assert.equal(last.backlog, null);
    });

    it('pages by the cursor of the page before without repeating or missing a boat, and searches by the start of an id', async () => {
        const ids: string[] = [];
        // Two boats share one import time: the cursor must still tell them apart.
        for (let i = 0; i < 7; i++) {
            const id = boatId(i < 3 ? 'dd' : '');
            ids.push(id);
            await seedImport(store, { installation_id: id, imported_at: hoursAgo(now, i >= 5 ? 90 : 100 - i) });
        }
        const seen: string[] = [];
        let after: string | undefined;
        let pages = 0;
        do {
            const page = await fleetBoats(store, { limit: 3, after }, now);
            seen.push(...page.boats.map((b) => b.installation_id));
            after = page.next_after;
            pages++;
        } while (after && pages < 10);
        assert.equal(pages, 3);
        assert.deepEqual([...seen].sort(), [...ids].sort());
        assert.equal(new Set(seen).size, 7);

        const found = await fleetBoats(store, { q: 'DD' }, now);
        assert.equal(found.matching, 3);
        assert.deepEqual(found.boats.map((b) => b.installation_id).sort(), ids.slice(0, 3).sort());
        await assert.rejects(fleetBoats(store, { q: 'boat one' }, now), /start of an installation_id/);
        await assert.rejects(fleetBoats(store, { after: 'page 2' }, now), /next_after of the page before/);
    });

    it("adds up every registered vault's copies of a page's boats, and names a vault that cannot answer", async () => {
        const id = boatId();
        await seedImport(store, { installation_id: id, imported_at: hoursAgo(now, 5) });
        const asked: string[][] = [];
        const copies = (n: number, newest: string, damaged = 0) => ({ copies: n, bytes: n * 1000, newest_received_at: newest, damaged });
        const unregister = [
            registerVault({
                factsFor: async (ids) => (asked.push(ids), new Map([[id, copies(2, hoursAgo(now, 30), 1)]])),
                erase: async () => ({ copies: 0, bytes: 0, unfinished_uploads: 0 }),
            }),
            registerVault({ factsFor: async () => new Map([[id, copies(1, hoursAgo(now, 6))]]), erase: async () => ({ copies: 0, bytes: 0, unfinished_uploads: 0 }) }),
        ];
        try {
            let [boat] = (await fleetBoats(store, {}, now)).boats;
            assert.deepEqual(asked, [[id]], 'one question per vault per page, not one per boat');
            assert.deepEqual(boat.vault, { copies: 3, bytes: 3000, newest_received_at: hoursAgo(now, 6), damaged: 1 });
            unregister.push(
                registerVault({
                    factsFor: async () => {
                        throw new Error('the vault folder is not mounted');
                    },
                    erase: async () => ({ copies: 0, bytes: 0, unfinished_uploads: 0 }),
                }),
            );
            [boat] = (await fleetBoats(store, {}, now)).boats;
            assert.equal(boat.vault?.copies, 3);
            assert.match(boat.vault?.problem ?? '', /a backup vault could not answer: the vault folder is not mounted/);
        } finally {
            for (const remove of unregister) remove();
        }
    });

    it("keeps the backlog a boat's upload reports, and never lets an older report replace a newer one", async () => {
        const settings: IngestSettings = { dataDir: scratch.dir, mode: 'open', maxBodyBytes: 1024 * 1024 };
        const id = boatId();
        const text = smallExport(id, 'export_with_backlog');
        const headers = { authorization: `Bearer ${id}`, 'idempotency-key': 'export_with_backlog', 'content-type': 'application/json', 'x-d3kos-backlog': 'exports=4; bytes=40960' };
        await receiveUpload(store, settings, { headers, body: Buffer.from(text) });
        let [boat] = (await fleetBoats(store, {}, new Date())).boats;
        assert.equal(boat.backlog?.exports, 4);
        assert.equal(boat.backlog?.bytes, 40960);

        // The same export again (a retry), with a smaller backlog: already imported, and the backlog noted.
        await receiveUpload(store, settings, { headers: { ...headers, 'x-d3kos-backlog': 'exports=1; bytes=1024' }, body: Buffer.from(text) });
        [boat] = (await fleetBoats(store, {}, new Date())).boats;
        assert.equal(boat.backlog?.exports, 1);

        await store.recordBacklog(id, { exports: 9, bytes: 9 }, '2020-01-01T00:00:00.000Z');
        [boat] = (await fleetBoats(store, {}, new Date())).boats;
        assert.equal(boat.backlog?.exports, 1, 'an older report replaced a newer one');

        // A header the ingest does not understand costs the upload nothing.
        const other = boatId();
        const answer = await receiveUpload(store, settings, {
            headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json', 'x-d3kos-backlog': 'lots' },
            body: Buffer.from(smallExport(other, 'export_odd_header')),
        });
        assert.equal(answer.status, 'success');
    });
});
