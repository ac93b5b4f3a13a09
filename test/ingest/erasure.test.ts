import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'pg';
import { registerVault } from '../../lib/central/vault-registry';
import { BoatDataError } from '../../lib/errors';
import { FLEET_READER } from '../../lib/ingest/access';
import { eraseInstallation } from '../../lib/ingest/erasure';
import { IngestSettings, receiveUpload } from '../../lib/ingest/ingest';
import { IngestStore } from '../../lib/ingest/store';
import { scratchFolder } from '../support/folders';
import { queryRows } from '../support/sqlite';
import { forEachStore } from './stores';
import { boatHeaders, demoBoatIn, exportUpload, ExportUpload } from './uploads';

// The erasure of a boat, on each store: afterwards no table, no file of the data folder and no vault folder
// holds its installation_id, its uploads are refused naming why, and re-adding its token lets it in again.

const OTHER_TOKEN = 'tok-other-boat-000000000000000';
const BOAT_TOKEN = 'tok-erased-boat-00000000000000';
const OPERATOR = 'op-token-0000000000000000000000';

/** Every file under `dir` whose name or bytes hold `text`. */
function filesHolding(dir: string, text: string): string[] {
    const found: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
        const full = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
        if (full.includes(text)) found.push(full);
        else if (entry.isFile() && fs.readFileSync(full).includes(text)) found.push(full);
    }
    return found;
}

/** A vault as the backup-vault node registers one: a folder per boat. */
function folderVault(root: string) {
    return registerVault({
        factsFor: async () => new Map(),
        erase: async (installationId) => {
            const dir = path.join(root, installationId);
            const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
            const bytes = files.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
            fs.rmSync(dir, { recursive: true, force: true });
            return { copies: files.filter((f) => f.endsWith('.age')).length, bytes, unfinished_uploads: files.filter((f) => f.endsWith('.partial')).length };
        },
    });
}

forEachStore('central ingest: erasing a boat', (kind) => {
    let scratch: ReturnType<typeof scratchFolder>;
    let store: IngestStore;
    let database: string;
    let settings: IngestSettings;
    let unregister: () => void;
    let upload: ExportUpload;
    let boatId: string;

    const send = (token: string) => receiveUpload(store, settings, { headers: boatHeaders(upload, token), body: upload.gzip });

    /** Each table of the database whose rows, as text, hold `text`. */
    async function tablesHolding(text: string): Promise<string[]> {
        if (kind.name === 'SQLite') {
            const file = path.join(settings.dataDir, 'ingest.db');
            const tables = await queryRows<{ name: string }>(file, "SELECT name FROM sqlite_master WHERE type = 'table'");
            assert.ok(tables.length >= 7, tables.map((t) => t.name).join());
            const holding: string[] = [];
            for (const { name } of tables) if (JSON.stringify(await queryRows(file, `SELECT * FROM "${name}"`)).includes(text)) holding.push(name);
            return holding;
        }
        const client = new Client({ connectionString: database });
        await client.connect();
        try {
            const { rows: tables } = await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
            assert.ok(tables.length >= 7, tables.map((t) => t.table_name).join());
            const holding: string[] = [];
            for (const { table_name } of tables) if (JSON.stringify((await client.query(`SELECT * FROM "${table_name}"`)).rows).includes(text)) holding.push(table_name);
            return holding;
        } finally {
            await client.end();
        }
    }

    before(async () => {
        scratch = scratchFolder('ingest-erasure');
        const boat = await demoBoatIn(scratch.dir, 'boat', { boatlogRows: 50, telemetryRows: 80 });
        upload = await exportUpload(boat);
        boatId = boat.installationId;
        settings = { dataDir: path.join(scratch.dir, 'central'), mode: 'tokens', maxBodyBytes: 16 * 1024 * 1024 };
        fs.mkdirSync(settings.dataDir, { recursive: true });
        fs.writeFileSync(path.join(settings.dataDir, 'devices.json'), JSON.stringify({ [BOAT_TOKEN]: boatId, [OTHER_TOKEN]: 'a1a1a1a1a1a1a1a1' }));
        fs.writeFileSync(path.join(settings.dataDir, 'operators.json'), JSON.stringify([OPERATOR]));
        database = await kind.freshDatabase();
        store = await kind.open(settings.dataDir, database);
        const vaultDir = path.join(scratch.dir, 'vault');
        fs.mkdirSync(path.join(vaultDir, boatId), { recursive: true });
        fs.writeFileSync(path.join(vaultDir, boatId, 'd3kos_backup_20261201_000000.tar.gz.age'), Buffer.alloc(1000, 1));
        fs.writeFileSync(path.join(vaultDir, boatId, 'upload-1.partial'), Buffer.alloc(10, 1));
        unregister = folderVault(vaultDir);
    });
    after(async () => {
        unregister?.();
        await store?.close();
        scratch.remove();
    });

    it('leaves no table, data file or vault folder holding the boat, answers what it removed, and refuses its uploads until it is let in again', async () => {
        const first = await send(BOAT_TOKEN);
        assert.equal(first.already_imported, false);
        // A refused import is kept too, and must go with the rest.
        await assert.rejects(receiveUpload(store, settings, { headers: { ...boatHeaders(upload, BOAT_TOKEN), 'idempotency-key': 'not-this-export' }, body: upload.gzip }));
        assert.ok((await tablesHolding(boatId)).length >= 5);

        const refusedWithout = await eraseInstallation(store, settings, FLEET_READER, boatId, undefined).catch((err) => err);
        assert.ok(refusedWithout instanceof BoatDataError && refusedWithout.statusCode === 400, String(refusedWithout));
        assert.match(refusedWithout.message, new RegExp(`confirm it with \\?confirm=${boatId}`));

        const answer = await eraseInstallation(store, settings, FLEET_READER, boatId.toUpperCase(), boatId);
        const rows = Object.values(upload.json.data).reduce((n: number, c: any) => n + (c.entries?.length ?? 0), 0);
        assert.deepEqual(answer.removed, {
            category_rows: rows,
            category_data: Object.values(upload.json.data).filter((c: any) => c.data).length,
            category_counts: Object.values(upload.json.data).filter((c: any) => c.entries?.length > 0).length,
            imported_exports: 1,
            installations: 1,
            failed_imports: 1,
            device_tokens: 1,
            vault_copies: 1,
            vault_bytes: 1010,
            vault_unfinished_uploads: 1,
        });

        assert.deepEqual(await tablesHolding(boatId), []);
        await store.close();
        // The store closed, so SQLite has folded its WAL back: the file's bytes, free pages included, are what is left.
        for (const dir of [settings.dataDir, path.join(scratch.dir, 'vault')]) assert.deepEqual(filesHolding(dir, boatId), [], `no file or folder under ${dir} names the boat`);
        assert.deepEqual(filesHolding(settings.dataDir, BOAT_TOKEN), []);
        store = await kind.open(settings.dataDir, database);
        // The other boat is untouched.
        assert.deepEqual(JSON.parse(fs.readFileSync(path.join(settings.dataDir, 'devices.json'), 'utf8')), { [OTHER_TOKEN]: 'a1a1a1a1a1a1a1a1' });

        const refused = await send(BOAT_TOKEN).catch((err) => err);
        assert.ok(refused instanceof BoatDataError && refused.statusCode === 403, String(refused));
        assert.match(refused.message, /this device token's boat was erased from the central database on .*adding its device token to devices\.json/);

        // Let in again: its token back in devices.json.
        fs.writeFileSync(path.join(settings.dataDir, 'devices.json'), JSON.stringify({ [BOAT_TOKEN]: boatId, [OTHER_TOKEN]: 'a1a1a1a1a1a1a1a1' }));
        const again = await send(BOAT_TOKEN);
        assert.equal(again.already_imported, false, 'stored afresh, not answered from what was erased');
        assert.equal(again.records_imported, first.records_imported);
    });

    it('is refused to a device token, in open mode, and for a boat of which nothing is stored', async () => {
        const device = await eraseInstallation(store, settings, { scope: 'installation', installation_id: boatId }, boatId, boatId).catch((err) => err);
        assert.equal(device.statusCode, 403);
        assert.match(device.message, /for an operator token/);
        const open = await eraseInstallation(store, { ...settings, mode: 'open' }, FLEET_READER, boatId, boatId).catch((err) => err);
        assert.equal(open.statusCode, 403);
        assert.match(open.message, /needs tokens mode/);
        const unknown = await eraseInstallation(store, settings, FLEET_READER, 'ffffffffffffffff', 'ffffffffffffffff').catch((err) => err);
        assert.equal(unknown.statusCode, 404, JSON.stringify(unknown));
    });
});
