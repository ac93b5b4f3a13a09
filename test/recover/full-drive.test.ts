import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { BoatDataError } from '../../lib/errors';
import { downloadCentralCopy } from '../../lib/recover/download';
import { scratchFolder } from '../support/folders';

const INSTALLATION = '0123456789abcdef';
const NAME = 'd3kos_backup_20261201_100000.tar.gz.age';

/**
 * A central side on loopback serving one copy of `bytes`. `listedSize`
 * lets the list understate it, as a copy that grew or a vault that lies
 * would, so the drive fills up half-way instead of at the check.
 */
async function central(bytes: Buffer, listedSize = bytes.length): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
    let requests = 0;
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    const server = http.createServer((req, res) => {
        requests++;
        if (req.url === `/api/v1/installations/${INSTALLATION}/backups`) {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ backups: [{ name: NAME, size_bytes: listedSize, sha256, created_at: '2026-12-01T10:00:00Z' }] }));
            return;
        }
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
        res.end(bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return { url: `http://127.0.0.1:${port}`, requests: () => requests, close: () => new Promise((r) => server.close(() => r())) };
}

describe('a recovery download onto a full backup drive', function () {
    this.timeout(60000);
    let scratch: ReturnType<typeof scratchFolder>;
    let drive: string;

    beforeEach(() => {
        scratch = scratchFolder('recover-full-drive');
        drive = path.join(scratch.dir, 'usb');
        fs.mkdirSync(drive);
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', drive]);
    });
    afterEach(() => {
        execFileSync('umount', [drive]);
        scratch.remove();
    });

    const refusedFull = (err: unknown) => {
        assert.ok(err instanceof BoatDataError, String(err));
        assert.equal(err.code, 'DISK_FULL', err.message);
        assert.equal(err.statusCode, 507);
        assert.ok(!err.message.includes(drive), 'the answer shows an absolute path');
        return true;
    };
    const leftovers = () => fs.readdirSync(drive).filter((n) => n !== 'lost+found');

    it('answers 507 at once, before a byte is fetched, and leaves no .partial (an old one included)', async () => {
        const c = await central(crypto.randomBytes(2 * 1024 * 1024));
        try {
            fs.writeFileSync(path.join(drive, `.${NAME}.partial`), crypto.randomBytes(100 * 1024));
            const started = Date.now();
            await assert.rejects(downloadCentralCopy({ centralUrl: c.url, installationId: INSTALLATION, token: 't', backupDir: drive }), refusedFull);
            assert.ok(Date.now() - started < 20000, 'the refusal waited on retries');
            assert.equal(c.requests(), 1, 'the copy itself was requested');
            assert.deepEqual(leftovers(), []);
        } finally {
            await c.close();
        }
    });

    it('answers 507 when the drive fills up half-way, and the part downloaded is removed', async () => {
        const c = await central(crypto.randomBytes(2 * 1024 * 1024), 100 * 1024);
        try {
            const started = Date.now();
            await assert.rejects(downloadCentralCopy({ centralUrl: c.url, installationId: INSTALLATION, token: 't', backupDir: drive }), refusedFull);
            assert.ok(Date.now() - started < 20000, 'the refusal waited on retries');
            assert.deepEqual(leftovers(), []);
        } finally {
            await c.close();
        }
    });
});
