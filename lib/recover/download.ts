import { createWriteStream, promises as fs } from 'fs';
import * as path from 'path';
import * as http from 'http';
import * as https from 'https';
import { pipeline } from 'stream/promises';
import { BoatDataError, errorMessage } from '../errors';
import { syncFolder, writeFileAtomic } from '../files/atomic';
import { hashFile } from '../files/hash';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { checkCopyName } from '../vault/store';
import { isDiskFull } from '../backup/drive';

/**
 * Fetches a boat's newest copy from the central vault into its backup
 * folder: resumable (a `.partial` file grows with HTTP Range requests, so a
 * dropped link or a restart goes on from where it stopped), checked against
 * the vault's sha256 before it takes its final name beside its `.sha256`.
 * A backup drive without room for it is told at once (507), before a byte
 * is fetched, and a drive that fills up on the way keeps no `.partial`.
 */
export interface CentralCopyRequest {
    centralUrl: string;
    installationId: string;
    /** The boat's device token (or an operator token). Never logged. */
    token: string;
    backupDir: string;
    /** A named copy; default the newest. */
    name?: string;
    /** How many times a dropped download is resumed before giving up. */
    resumes?: number;
}

export interface ListedCopy {
    name: string;
    size_bytes: number;
    sha256: string;
    created_at: string;
}

export async function listCentralCopies(request: Pick<CentralCopyRequest, 'centralUrl' | 'installationId' | 'token'>): Promise<ListedCopy[]> {
    const id = checkInstallationId(request.installationId);
    const res = await get(`${request.centralUrl}/api/v1/installations/${id}/backups`, request.token);
    const text = await readText(res);
    if (res.statusCode !== 200) throw centralRefused(res.statusCode ?? 0, text, 'list the backups');
    const parsed = JSON.parse(text) as { backups?: ListedCopy[] };
    return parsed.backups ?? [];
}

export async function downloadCentralCopy(request: CentralCopyRequest): Promise<{ name: string; file: string; sha256: string; size: number }> {
    const id = checkInstallationId(request.installationId);
    const copies = await listCentralCopies(request);
    const copy = request.name ? copies.find((c) => c.name === request.name) : copies[0];
    if (!copy) {
        throw new BoatDataError(
            'RECOVER_NO_COPY',
            request.name ? `the central side has no copy named ${request.name} for installation ${id}` : `the central side holds no backup of installation ${id} yet`,
            404,
        );
    }
    checkCopyName(copy.name);
    await fs.mkdir(request.backupDir, { recursive: true });
    const final = path.join(request.backupDir, copy.name);
    const partial = path.join(request.backupDir, `.${copy.name}.partial`);
    const url = `${request.centralUrl}/api/v1/installations/${id}/backups/${encodeURIComponent(copy.name)}`;
    const resumes = request.resumes ?? 50;
    await checkRoom(request.backupDir, partial, copy.name, copy.size_bytes);
    for (let attempt = 0; ; attempt++) {
        const have = await fs.stat(partial).then(
            (s) => s.size,
            () => 0,
        );
        if (have >= copy.size_bytes) break;
        try {
            const res = await get(url, request.token, have > 0 ? { Range: `bytes=${have}-`, 'If-Range': `"${copy.sha256}"` } : {});
            if (res.statusCode === 200 || res.statusCode === 206) {
                // A 200 to a Range request is the whole file again (the copy changed): start the partial file over.
                const append = res.statusCode === 206 && have > 0;
                await pipeline(res, createWriteStream(partial, { flags: append ? 'a' : 'w', mode: 0o600 }));
                continue;
            }
            const text = await readText(res);
            throw centralRefused(res.statusCode ?? 0, text, `download ${copy.name}`);
        } catch (err) {
            if (err instanceof BoatDataError) throw err;
            if (isDiskFull(err)) throw await driveFull(partial, copy.name);
            if (attempt >= resumes)
                throw new BoatDataError('RECOVER_DOWNLOAD_FAILED', `the download of ${copy.name} kept breaking off (${errorMessage(err)}); run the recovery again to go on from where it stopped`, 502);
            await new Promise((r) => setTimeout(r, Math.min(5000, 200 * (attempt + 1))));
        }
    }
    const { sha256, size } = await hashFile(partial);
    if (sha256 !== copy.sha256 || size !== copy.size_bytes) {
        await fs.rm(partial, { force: true });
        throw new BoatDataError('RECOVER_COPY_DAMAGED', `the downloaded ${copy.name} does not match the central side's sha256 (${size} bytes); it was removed, run the recovery again`, 502);
    }
    try {
        await writeFileAtomic(final + '.sha256', `${sha256}  ${copy.name}\n`, { mode: 0o600 });
    } catch (err) {
        if (isDiskFull(err)) throw await driveFull(partial, copy.name);
        throw err;
    }
    await fs.rename(partial, final);
    await syncFolder(request.backupDir);
    return { name: copy.name, file: final, sha256, size };
}

/** Room for the rest of the copy (and its checksum file) on the backup drive, or a 507 with the partial file removed. */
async function checkRoom(dir: string, partial: string, name: string, size: number): Promise<void> {
    const have = await fs.stat(partial).then(
        (s) => s.size,
        () => 0,
    );
    const stat = await fs.statfs(dir).catch(() => null);
    if (!stat) return;
    const free = stat.bavail * stat.bsize;
    const needed = size - have + 64 * 1024;
    if (free >= needed) return;
    await fs.rm(partial, { force: true });
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    throw new BoatDataError(
        'DISK_FULL',
        `the backup drive has ${mb(free + have)} free but ${name} needs ${mb(size + 64 * 1024)}; free some room (or use a bigger drive) and run the recovery again. Nothing was downloaded`,
        507,
    );
}

async function driveFull(partial: string, name: string): Promise<BoatDataError> {
    await fs.rm(partial, { force: true }).catch(() => undefined);
    return new BoatDataError('DISK_FULL', `the backup drive filled up while ${name} was downloaded; the part downloaded was removed. Free some room and run the recovery again`, 507);
}

export function checkInstallationId(id: string): string {
    if (!INSTALLATION_ID_PATTERN.test(id ?? ''))
        throw new BoatDataError('INSTALLATION_ID_INVALID', `"${id}" is not an installation id (16 hexadecimal characters, on the boat's papers or in the central dashboard)`, 400);
    return id.toLowerCase();
}

export function get(url: string, token: string, headers: Record<string, string> = {}): Promise<http.IncomingMessage> {
    const client = url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
        const req = client.get(url, { headers: { Authorization: `Bearer ${token}`, ...headers }, timeout: 30000 }, resolve);
        req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
        req.on('error', reject);
    });
}

export async function readText(res: http.IncomingMessage): Promise<string> {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of res) {
        size += (chunk as Buffer).length;
        if (size <= 1024 * 1024) parts.push(chunk as Buffer);
    }
    return Buffer.concat(parts).toString('utf8');
}

export function centralRefused(status: number, body: string, what: string): BoatDataError {
    let reason = '';
    try {
        reason = JSON.parse(body).error ?? '';
    } catch {
        reason = '';
    }
    const hint = status === 401 || status === 403 ? ' (check the installation id and the device token)' : '';
    return new BoatDataError('RECOVER_CENTRAL_REFUSED', `the central side would not ${what}: ${status}${reason ? ` ${reason}` : ''}${hint}`, status === 404 ? 404 : 502);
}
