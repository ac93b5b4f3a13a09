import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { scratchFolder } from '../support/folders';
import { testCentral, TestCentral } from '../offboat/central';
import { sendCopy } from '../../lib/offboat/send';
import { OffboatWorker } from '../../lib/offboat/worker';
import { readOffboatState } from '../../lib/offboat/state';

const BOAT_A = 'aaaaaaaaaaaaaaaa';
const BOAT_B = 'bbbbbbbbbbbbbbbb';
const TOKEN_A = 'device-token-of-boat-a-000001';
const TOKEN_B = 'device-token-of-boat-b-000002';
const OPERATOR = 'operator-token-of-the-fleet-01';

/** A file that starts as an age file does, and its sidecar, in `dir`. */
function fakeEncryptedBackup(dir: string, name: string, size = 200 * 1024, header = 'age-encryption.org/v1\n'): { file: string; sha256: string; size: number } {
    fs.mkdirSync(dir, { recursive: true });
    const bytes = Buffer.concat([Buffer.from(header), crypto.randomBytes(size)]);
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(`${file}.sha256`, `${sha256}  ${name}\n`);
    return { file, sha256, size: bytes.length };
}

describe('the central backup vault', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let central: TestCentral;

    beforeEach(async () => {
        scratch = scratchFolder('vault');
        central = await testCentral(path.join(scratch.dir, 'central'), { [TOKEN_A]: BOAT_A, [TOKEN_B]: BOAT_B }, [OPERATOR], 2);
    });
    afterEach(async () => {
        await central.close();
        scratch.remove();
    });

    const send = (token: string, file: { file: string; sha256: string; size: number }, name = path.basename(file.file)) =>
        sendCopy({ centralUrl: central.url, token, file: file.file, name, sha256: file.sha256, size: file.size, uploadUrl: null, onUploadUrl: async () => undefined });
    const get = (url: string, token?: string, headers: Record<string, string> = {}) =>
        fetch(`${central.url}${url}`, { headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers } });

    it("keeps each boat's newest N copies, lists them for the boat's own token and the operator, and refuses other boats", async () => {
        const names = ['d3kos_backup_20260101_000000.tar.gz.age', 'd3kos_backup_20260102_000000.tar.gz.age', 'd3kos_backup_20260103_000000.tar.gz.age'];
        for (const name of names) assert.deepEqual(await send(TOKEN_A, fakeEncryptedBackup(path.join(scratch.dir, 'a'), name)), { kind: 'done' });

        const own = await get(`/api/v1/installations/${BOAT_A}/backups`, TOKEN_A);
        assert.equal(own.status, 200);
        const listed = (await own.json()) as { backups: Array<{ name: string }> };
        assert.deepEqual(
            listed.backups.map((b) => b.name),
            [names[2], names[1]],
        );
        assert.equal((await get(`/api/v1/installations/${BOAT_A}/backups`, OPERATOR)).status, 200);
        assert.equal((await get(`/api/v1/installations/${BOAT_A}/backups`, TOKEN_B)).status, 403);
        assert.equal((await get(`/api/v1/installations/${BOAT_A}/backups`)).status, 401);
        assert.equal((await get(`/api/v1/installations/${BOAT_A}/backups/${names[2]}`, TOKEN_B)).status, 403);
    });

    it('serves a copy whole and from a byte range, byte for byte', async () => {
        const name = 'd3kos_backup_20260101_000000.tar.gz.age';
        const backup = fakeEncryptedBackup(path.join(scratch.dir, 'a'), name);
        await send(TOKEN_A, backup);
        const whole = Buffer.from(await (await get(`/api/v1/installations/${BOAT_A}/backups/${name}`, TOKEN_A)).arrayBuffer());
        assert.ok(whole.equals(fs.readFileSync(backup.file)));
        const tail = await get(`/api/v1/installations/${BOAT_A}/backups/${name}`, OPERATOR, { Range: 'bytes=1000-' });
        assert.equal(tail.status, 206);
        assert.ok(Buffer.from(await tail.arrayBuffer()).equals(fs.readFileSync(backup.file).subarray(1000)));
        assert.equal((await get(`/api/v1/installations/${BOAT_A}/backups/../../devices.json`, OPERATOR)).status, 404);
        assert.equal((await get(`/api/v1/installations/${BOAT_A}/backups/devices.json`, OPERATOR)).status, 400);
    });

    it('takes only encrypted backups with a matching sha256, and an upload only from a known device', async () => {
        const dir = path.join(scratch.dir, 'a');
        const plain = fakeEncryptedBackup(dir, 'd3kos_backup_20260101_000000.tar.gz');
        assert.equal(((await send(TOKEN_A, plain)) as { status: number }).status, 400);
        const notAge = fakeEncryptedBackup(dir, 'd3kos_backup_20260102_000000.tar.gz.age', 1000, '\x1f\x8b plain gzip       \n');
        assert.equal(((await send(TOKEN_A, notAge)) as { status: number }).status, 422);
        const lying = fakeEncryptedBackup(dir, 'd3kos_backup_20260103_000000.tar.gz.age');
        assert.equal(((await send(TOKEN_A, { ...lying, sha256: 'f'.repeat(64) })) as { status: number }).status, 460);
        const good = fakeEncryptedBackup(dir, 'd3kos_backup_20260104_000000.tar.gz.age');
        assert.equal(((await send('not-a-known-device-token', good)) as { status: number }).status, 401);
        const operator = (await send(OPERATOR, good)) as { status: number; reason: string };
        assert.equal(operator.status, 403);
        assert.match(operator.reason, /operator tokens read, device tokens upload/);
        const listed = (await (await get(`/api/v1/installations/${BOAT_A}/backups`, OPERATOR)).json()) as { count: number };
        assert.equal(listed.count, 0);
    });

    it('an upload in bounded requests (for a central side behind a buffering proxy) arrives whole too', async () => {
        const name = 'd3kos_backup_20260106_000000.tar.gz.age';
        const backup = fakeEncryptedBackup(path.join(scratch.dir, 'a'), name, 300 * 1024);
        const outcome = await sendCopy({
            centralUrl: central.url,
            token: TOKEN_A,
            file: backup.file,
            name,
            sha256: backup.sha256,
            size: backup.size,
            uploadUrl: null,
            onUploadUrl: async () => undefined,
            chunkSize: 64 * 1024,
        });
        assert.deepEqual(outcome, { kind: 'done' });
        assert.equal(central.copies[0].copy.sha256, backup.sha256);
    });

    it("another boat's token can neither read nor write an upload in progress: to it, the upload is not there", async () => {
        const name = 'd3kos_backup_20260107_000000.tar.gz.age';
        const backup = fakeEncryptedBackup(path.join(scratch.dir, 'a'), name);
        const made = await fetch(`${central.url}/api/v1/backup-uploads`, {
            method: 'POST',
            headers: {
                Authorization: `Bearer ${TOKEN_A}`,
                'Tus-Resumable': '1.0.0',
                'Upload-Length': String(backup.size),
                'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')},sha256 ${Buffer.from(backup.sha256).toString('base64')}`,
            },
        });
        assert.equal(made.status, 201, await made.text());
        const location = made.headers.get('location')!;
        assert.match(location, new RegExp(`/api/v1/backup-uploads/${BOAT_A}-`));
        const head = await fetch(location, { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN_B}`, 'Tus-Resumable': '1.0.0' } });
        assert.equal(head.status, 404);
        const patch = await fetch(location, {
            method: 'PATCH',
            headers: { Authorization: `Bearer ${TOKEN_B}`, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
            body: fs.readFileSync(backup.file),
        });
        assert.equal(patch.status, 404);
        const own = await fetch(location, { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN_A}`, 'Tus-Resumable': '1.0.0' } });
        assert.deepEqual([own.status, own.headers.get('upload-offset')], [200, '0']);
    });

    it('an upload a boat abandoned more than 6 hours ago is removed when a new one starts; a recent one stays', async () => {
        const uploads = path.join(central.dataDir, 'backup-uploads');
        fs.mkdirSync(uploads, { recursive: true });
        const old = path.join(uploads, `${BOAT_A}-abandoned`);
        const recent = path.join(uploads, `${BOAT_A}-recent`);
        fs.writeFileSync(old, 'x');
        fs.writeFileSync(recent, 'x');
        const sevenHoursAgo = new Date(Date.now() - 7 * 3600 * 1000);
        fs.utimesSync(old, sevenHoursAgo, sevenHoursAgo);
        await send(TOKEN_A, fakeEncryptedBackup(path.join(scratch.dir, 'a'), 'd3kos_backup_20260105_000000.tar.gz.age'));
        assert.equal(fs.existsSync(old), false);
        assert.equal(fs.existsSync(recent), true);
    });

    it('the boat spends no try while the central API is out of reach, and sends once it is back', async () => {
        const root = path.join(scratch.dir, 'boat');
        const backupDir = path.join(root, 'backups');
        fakeEncryptedBackup(backupDir, 'd3kos_backup_20260101_000000.tar.gz.age');
        let url = 'http://127.0.0.1:9'; // Nothing listens on the discard port: the link is not there.
        const worker = new OffboatWorker({ root, backupDir: () => backupDir, centralUrl: () => url, token: async () => TOKEN_A });
        await worker.queueNewest();
        for (let i = 0; i < 5; i++) {
            const round = await worker.process();
            assert.equal(round.result, 'waiting');
            assert.equal((round as { tryCounted: boolean }).tryCounted, false);
        }
        assert.equal((await readOffboatState(root)).pending?.tries, 0);
        url = central.url;
        assert.deepEqual(await worker.process(), { result: 'sent', name: 'd3kos_backup_20260101_000000.tar.gz.age' });
        assert.equal(central.copies.length, 1);
    });
});
