import assert from 'node:assert/strict';
import * as http from 'http';
import * as path from 'path';
import { Client } from 'pg';
import { RunningNodeRed } from '../../tools/node-red-runtime';
import { forEachStore } from '../ingest/stores';
import { scratchFolder } from '../support/folders';
import { backupName, bearer, boat, createUpload, fakeBackup, OPERATOR, patchUpload, startVaultCentral, TUS } from './central';

// Two central Node-REDs (npm run build first) on one PostgreSQL and one vault folder, as two instances behind a
// load balancer with a shared volume would be: a boat's requests land on either.

/**
 * A PATCH whose headers go at once and whose body follows a little later and trickles in over about `ms`:
 * the vault checks the offset on the headers, so two of these at once both find the offset they claim unless
 * the second waits for the first's turn.
 */
function slowPatch(location: string, token: string, offset: number, body: Buffer, ms: number): Promise<number> {
    return new Promise((resolve, reject) => {
        const req = http.request(location, {
            method: 'PATCH',
            headers: { ...bearer(token), ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(body.length) },
        });
        req.on('response', (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        const pieces = 16;
        const size = Math.ceil(body.length / pieces);
        let sent = 0;
        const next = () => {
            if (sent >= body.length) return req.end();
            req.write(body.subarray(sent, sent + size));
            sent += size;
            setTimeout(next, ms / pieces);
        };
        req.flushHeaders();
        setTimeout(next, 300);
    });
}

forEachStore('the backup vault behind two central instances', (kind) => {
    if (kind.name !== 'PostgreSQL') return;
    let scratch: ReturnType<typeof scratchFolder>;
    let database = '';
    const instances: RunningNodeRed[] = [];
    const a = boat('a');

    before(async () => {
        scratch = scratchFolder('vault-two');
        database = await kind.freshDatabase();
        const vaultDir = path.join(scratch.dir, 'shared-vault');
        instances.push(
            ...(await Promise.all(
                ['one', 'two'].map((name) =>
                    startVaultCentral(path.join(scratch.dir, name), { dataDir: path.join(scratch.dir, name, 'central-data'), vaultDir, env: { D3KOS_INGEST_DATABASE_URL: database } }),
                ),
            )),
        );
    });
    after(async () => {
        for (const instance of instances) await instance.stop();
        scratch.remove();
    });

    const copies = async (instance: RunningNodeRed) =>
        ((await (await fetch(`${instance.url}/api/v1/installations/${a.id}/backups`, { headers: bearer(OPERATOR) })).json()) as { backups: Array<{ name: string; sha256: string }> }).backups;
    /** The same upload, as the other instance serves it. */
    const at = (location: string, instance: RunningNodeRed) => instance.url + new URL(location).pathname;

    it('an upload whose requests alternate between the instances arrives whole, and both list it', async () => {
        const backup = fakeBackup(600 * 1024);
        const name = backupName(0);
        const made = await createUpload(instances[0].url, a.token, name, backup.bytes.length, backup.sha256);
        assert.equal(made.status, 201);
        const location = made.headers.get('location')!;
        const chunk = 100 * 1024;
        for (let offset = 0, turn = 1; offset < backup.bytes.length; offset += chunk, turn++) {
            const asked = await fetch(at(location, instances[(turn + 1) % 2]), { method: 'HEAD', headers: { ...bearer(a.token), ...TUS } });
            assert.equal(asked.headers.get('upload-offset'), String(offset));
            const sent = await patchUpload(at(location, instances[turn % 2]), a.token, offset, backup.bytes.subarray(offset, offset + chunk));
            assert.equal(sent.status, 204, await sent.text());
        }
        const [one, two] = await Promise.all(instances.map(copies));
        assert.deepEqual(one, two);
        assert.deepEqual(
            one.map((c) => [c.name, c.sha256]),
            [[name, backup.sha256]],
        );
        const downloaded = await fetch(`${instances[1].url}/api/v1/installations/${a.id}/backups/${name}`, { headers: bearer(a.token) });
        assert.ok(Buffer.from(await downloaded.arrayBuffer()).equals(backup.bytes));
    });

    it('two PATCHes for one upload arriving at both instances at once take turns: one writes, the other is told the offset moved', async () => {
        const backup = fakeBackup(512 * 1024);
        const name = backupName(0, 1);
        const made = await createUpload(instances[1].url, a.token, name, backup.bytes.length, backup.sha256);
        const location = made.headers.get('location')!;
        const first = backup.bytes.subarray(0, 256 * 1024);
        const statuses = await Promise.all(instances.map((instance) => slowPatch(at(location, instance), a.token, 0, first, 800)));
        assert.deepEqual(statuses.sort(), [204, 409]);
        for (const instance of instances) {
            const asked = await fetch(at(location, instance), { method: 'HEAD', headers: { ...bearer(a.token), ...TUS } });
            assert.equal(asked.headers.get('upload-offset'), String(first.length));
        }
        const rest = await patchUpload(at(location, instances[0]), a.token, first.length, backup.bytes.subarray(first.length));
        assert.equal(rest.status, 204, await rest.text());
        const [one, two] = await Promise.all(instances.map(copies));
        assert.deepEqual(one, two);
        assert.deepEqual(one[0].sha256, backup.sha256);
    });

    it('a PATCH left hanging on one instance (a link dropped half-open) lets go when the boat asks again at the other', async () => {
        const backup = fakeBackup(256 * 1024);
        const made = await createUpload(instances[0].url, a.token, backupName(0, 2), backup.bytes.length, backup.sha256);
        const location = made.headers.get('location')!;
        const hanging = http.request(at(location, instances[0]), {
            method: 'PATCH',
            headers: { ...bearer(a.token), ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(backup.bytes.length) },
        });
        hanging.on('error', () => undefined);
        hanging.write(backup.bytes.subarray(0, 1024));
        try {
            await new Promise((resolve) => setTimeout(resolve, 500));
            const started = Date.now();
            // Without the request to let go, this HEAD would wait out the whole lock wait (30 s) and be refused.
            const asked = await fetch(at(location, instances[1]), { method: 'HEAD', headers: { ...bearer(a.token), ...TUS } });
            assert.equal(asked.status, 200);
            assert.equal(asked.headers.get('upload-offset'), '1024');
            assert.ok(Date.now() - started < 20000, `the HEAD waited ${Date.now() - started} ms`);
        } finally {
            hanging.destroy();
        }
    });

    it('the database dropping every connection of the vault (a restart) ends neither instance, and the uploads go on', async () => {
        const backups = instances.map(() => fakeBackup(10 * 1024));
        const locations: string[] = [];
        for (const [i, instance] of instances.entries()) {
            const made = await createUpload(instance.url, a.token, backupName(0, 40 + i), backups[i].bytes.length, backups[i].sha256);
            assert.equal(made.status, 201, await made.text());
            locations.push(at(made.headers.get('location')!, instance));
        }
        const client = new Client({ connectionString: database });
        await client.connect();
        try {
            const { rows } = await client.query("SELECT count(pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity WHERE application_name = 'd3kos-backup-vault locks'");
            assert.ok(rows[0].ended >= 2, `ended ${rows[0].ended} connections`);
        } finally {
            await client.end();
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
        for (const [i, location] of locations.entries()) assert.equal((await patchUpload(location, a.token, 0, backups[i].bytes)).status, 204);
    });
});
