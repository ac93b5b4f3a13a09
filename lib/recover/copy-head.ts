import { BoatDataError } from '../errors';
import { checkCopyName } from '../vault/store';
import { CentralCopyRequest, centralRefused, checkInstallationId, get, listCentralCopies, ListedCopy, readText } from './download';

/**
 * The newest central copy and its first `bytes` bytes, fetched with a Range
 * request: what a recovery-key check reads of a copy, never the whole file.
 */
export async function newestCopyHead(request: Pick<CentralCopyRequest, 'centralUrl' | 'installationId' | 'token'>, bytes: number): Promise<{ copy: ListedCopy; head: Buffer } | null> {
    const id = checkInstallationId(request.installationId);
    const [copy] = await listCentralCopies(request);
    if (!copy) return null;
    checkCopyName(copy.name);
    const res = await get(`${request.centralUrl}/api/v1/installations/${id}/backups/${encodeURIComponent(copy.name)}`, request.token, { Range: `bytes=0-${bytes - 1}` });
    if (res.statusCode !== 200 && res.statusCode !== 206) {
        throw centralRefused(res.statusCode ?? 0, await readText(res), `send the start of ${copy.name}`);
    }
    // A central that ignores Range sends the whole copy: read what is needed and hang up.
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of res) {
        parts.push(chunk as Buffer);
        size += (chunk as Buffer).length;
        if (size >= bytes) break;
    }
    res.destroy();
    const head = Buffer.concat(parts).subarray(0, bytes);
    if (head.length === 0) throw new BoatDataError('RECOVER_COPY_DAMAGED', `the central copy ${copy.name} is empty`, 502);
    return { copy, head };
}
