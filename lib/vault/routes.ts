import type { IncomingMessage, ServerResponse } from 'http';
import { createReadStream } from 'fs';
import * as crypto from 'crypto';
import * as path from 'path';
import { ERRORS, Server } from '@tus/server';
import { BoatDataError } from '../errors';
import { admitReader, admitUploader, bearerToken, checkReads, IngestMode } from '../ingest/access';
import { readOperators } from '../ingest/access-lists';
import { answerJson, errorBody, FolderNames, refuseCors, REQUESTS_PER_BOAT, REQUESTS_PER_UPLOAD, RETRY_AFTER_S, Slots, tooManyRequests } from './edge';
import { acceptCopy, checkNewCopyName, copyFile, listCopies, VaultCopy } from './store';
import type { VaultLocker } from './locker';
import { lockerFor } from './database';
import { DEFAULT_EXPIRE_MS, UPLOAD_ID, UploadStore } from './uploads';

/**
 * The vault's HTTP surface, one handler for Node-RED's http app:
 *
 * - `POST|HEAD|PATCH|DELETE /api/v1/backup-uploads[/<id>]`: a boat uploads an
 *   encrypted backup with the tus resumable-upload protocol (`@tus/server`
 *   on the vault folder's file store, with the vault's locker): a dropped
 *   link resumes at the byte the vault last wrote. Device token only; an
 *   upload belongs to the installation whose token created it, and any
 *   other id gets the same 404 as one that does not exist.
 *   `OPTIONS` is tus discovery, open to all.
 * - `GET /api/v1/installations/:id/backups`: a boat's copies, the last to arrive first.
 * - `GET /api/v1/installations/:id/backups/:name`: one copy, with HTTP Range
 *   so a recovery download resumes too.
 *
 * Readers are authorised as the ingest's readers are (an operator token for
 * every boat, a device token for its own). No answer carries CORS headers.
 */
export const UPLOAD_ROUTE = '/api/v1/backup-uploads';
const LIST_ROUTE = /^\/api\/v1\/installations\/([^/]+)\/backups\/?$/;
const COPY_ROUTE = /^\/api\/v1\/installations\/([^/]+)\/backups\/([^/]+)$/;

export interface RouteOptions {
    /** The ingest's data folder: devices.json and operators.json authorise. */
    dataDir: string;
    /** Where the copies and uploads are (shared by every instance of a central side). */
    folder: string;
    mode: IngestMode;
    keep: number;
    /** Largest backup accepted, in bytes. */
    maxBytes: number;
    onCopy?: (installationId: string, copy: VaultCopy) => void;
    /** An error the boat only hears of as "see the log". */
    onUnexpected?: (err: unknown) => void;
}

export type VaultHandler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

type AdmittedRequest = IncomingMessage & { installationId?: string };

const NOT_AN_UPLOAD = new BoatDataError('VAULT_UPLOAD_NOT_FOUND', 'this installation has no upload with that id (it finished, expired or never was); start a new upload', 404);

/** tus's own refusals, in words (its bodies are terse English without the cause). */
const TUS_WORDS: Array<[{ status_code: number; body: string }, BoatDataError]> = [
    [ERRORS.FILE_NOT_FOUND, NOT_AN_UPLOAD],
    [ERRORS.FILE_NO_LONGER_EXISTS, NOT_AN_UPLOAD],
    [ERRORS.INVALID_OFFSET, new BoatDataError('VAULT_OFFSET', 'the upload is not at the offset this request starts from; ask with HEAD and go on from there', 409)],
    [ERRORS.ERR_SIZE_EXCEEDED, new BoatDataError('VAULT_TOO_LARGE', 'this request carries more bytes than the upload declared in its Upload-Length; nothing past it was stored', 413)],
    [ERRORS.ABORTED, new BoatDataError('VAULT_ABORTED', 'a newer request for this upload came in, so this one was ended; ask with HEAD and go on from there', 400)],
    [ERRORS.FILE_WRITE_ERROR, new BoatDataError('VAULT_WRITE', 'the vault could not write this upload (its disk may be full); the bytes written so far are kept, try again later', 500)],
];

export function vaultRoutes(options: RouteOptions, uploads: UploadStore, locker: () => Promise<VaultLocker>, mountPath = ''): VaultHandler {
    const folders: FolderNames = [
        [path.resolve(options.folder), '<vault folder>'],
        [path.resolve(options.dataDir), '<ingest data folder>'],
    ];
    const uploadRoot = mountPath + UPLOAD_ROUTE;
    const boats = new Slots(REQUESTS_PER_BOAT);
    const perUpload = new Slots(REQUESTS_PER_UPLOAD);
    const installationOf = (req: IncomingMessage) => (req as AdmittedRequest).installationId!;

    const tus = new Server({
        path: uploadRoot,
        datastore: uploads,
        locker: () => locker(),
        maxSize: options.maxBytes,
        respectForwardedHeaders: false,
        // The upload's id starts with the installation it belongs to: a token of another boat cannot touch it.
        namingFunction: (req) => `${installationOf(req)}-${crypto.randomBytes(12).toString('hex')}`,
        // Only `<route>/<installation>-<24 hex>`: anything else (a path in disguise, say) is no upload at all.
        getFileIdFromRequest: (req) => uploadIdOf(req, uploadRoot),
        onIncomingRequest: async (req, res, uploadId) => {
            if (!uploadId.startsWith(`${installationOf(req)}-`)) throw NOT_AN_UPLOAD;
            if (req.method === 'POST' || req.method === 'PATCH') res.setHeader('Upload-Expires', uploads.expiresAt());
        },
        onUploadCreate: async (_req, res, upload) => {
            checkNewCopyName(upload.metadata?.filename);
            if (!/^[0-9a-f]{64}$/i.test(upload.metadata?.sha256 ?? '')) throw new BoatDataError('VAULT_NO_SHA256', "the upload must carry the backup's sha256 in its metadata", 400);
            return res;
        },
        onUploadFinish: async (req, res, upload) => {
            const installation = installationOf(req);
            const release = await uploads.holdBoat(installation);
            try {
                const copy = await acceptCopy(options.folder, installation, upload.metadata!.filename!, uploads.dataFile(upload.id), upload.metadata!.sha256!, options.keep);
                options.onCopy?.(installation, copy);
                return res;
            } finally {
                // Arrived or refused, the upload is over: a refused one is sent again from its first byte.
                await uploads.removeFiles(upload.id).catch(() => undefined);
                await release();
            }
        },
        onResponseError: (_req, res, err) => {
            const known = TUS_WORDS.find(([tusError]) => tusError === err)?.[1];
            const refusal = known ?? err;
            if (!(refusal instanceof BoatDataError) && typeof (err as { status_code?: unknown }).status_code !== 'number') options.onUnexpected?.(err);
            if (!(refusal instanceof BoatDataError) && typeof (err as { status_code?: unknown }).status_code === 'number') {
                // A tus refusal not worded above (a bad header, say): its status, its text.
                const tusError = err as { status_code: number; body: string };
                return { status_code: tusError.status_code, body: JSON.stringify({ success: false, error: tusError.body.trim(), code: 'VAULT_TUS' }) };
            }
            if (refusal instanceof BoatDataError && refusal.statusCode === 503) res.setHeader('Retry-After', String(RETRY_AFTER_S));
            const { status, body } = errorBody(refusal, folders);
            res.setHeader('Content-Type', 'application/json; charset=utf-8');
            return { status_code: status, body };
        },
    });

    const refuse = (res: ServerResponse, req: IncomingMessage, err: unknown) => {
        if (!(err instanceof BoatDataError)) options.onUnexpected?.(err);
        const { status, body } = errorBody(err, folders);
        // The body of a refused upload is not read: drained, and the connection closed after the answer.
        answerJson(res, status, body, { Connection: 'close', ...(status === 429 || status === 503 ? { 'Retry-After': String(RETRY_AFTER_S) } : {}) });
        req.resume();
    };

    const serveUploads = async (req: IncomingMessage, res: ServerResponse, local: string): Promise<void> => {
        const override = req.headers['x-http-method-override'];
        if (typeof override === 'string') req.method = override.toUpperCase();
        delete req.headers['x-http-method-override'];
        if (req.method === 'OPTIONS') return void tus.handle(req, res);
        if (req.method === 'GET') throw new BoatDataError('VAULT_METHOD', 'uploads are written with the tus protocol (POST, HEAD, PATCH); read copies at /api/v1/installations/<id>/backups', 405);
        if (req.headers['tus-resumable'] === undefined) {
            throw new BoatDataError('VAULT_NOT_TUS', 'uploads use the tus resumable-upload protocol: send "Tus-Resumable: 1.0.0" (a tus client does)', 412);
        }
        const exact = local === UPLOAD_ROUTE || local === UPLOAD_ROUTE + '/';
        if (req.method === 'POST' && !exact) throw new BoatDataError('VAULT_METHOD', `an upload is made with POST ${UPLOAD_ROUTE}`, 405);
        if (req.method === 'POST' && req.headers['upload-defer-length'] !== undefined) {
            throw new BoatDataError('VAULT_LENGTH_NEEDED', "the vault needs the backup's size when the upload is made (Upload-Length); it does not take uploads of unknown length", 400);
        }
        // An upload's id is a secret of its boat (96 random bits): its requests are counted before the bearer is
        // read, so a flood on one upload is turned away without a look at the access lists.
        const id = req.method === 'POST' ? undefined : uploadIdOf(req, uploadRoot);
        const uploadSlot = id ? perUpload.take(id) : () => undefined;
        if (!uploadSlot) throw tooManyRequests('this upload', REQUESTS_PER_UPLOAD);
        res.on('close', uploadSlot);
        const installation = await admitDevice(options, req);
        (req as AdmittedRequest).installationId = installation;
        const boatSlot = boats.take(installation);
        if (!boatSlot) throw tooManyRequests(`installation ${installation}`, REQUESTS_PER_BOAT);
        res.on('close', boatSlot);
        if (req.method === 'POST') void uploads.sweep().catch(() => undefined);
        await tus.handle(req, res);
    };

    const serveCopies = async (req: IncomingMessage, res: ServerResponse, list: RegExpExecArray | null, one: RegExpExecArray | null): Promise<void> => {
        if (req.method === 'OPTIONS') {
            res.writeHead(204, { Allow: 'GET, HEAD, OPTIONS' });
            res.end();
            return;
        }
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new BoatDataError('VAULT_METHOD', 'the backup copies are read with GET', 405);
        const id = decodeURIComponent((list ?? one)![1]).toLowerCase();
        const reader = await admitReader(options.mode, req.headers.authorization, options.dataDir);
        checkReads(reader, id);
        if (reader.scope === 'installation') {
            const slot = boats.take(reader.installation_id);
            if (!slot) throw tooManyRequests(`installation ${reader.installation_id}`, REQUESTS_PER_BOAT);
            res.on('close', slot);
        }
        if (list) {
            const copies = await listCopies(options.folder, id);
            return answerJson(res, 200, JSON.stringify({ success: true, installation_id: id, count: copies.length, damaged: copies.filter((c) => c.damaged).length, backups: copies }));
        }
        const found = await copyFile(options.folder, id, decodeURIComponent(one![2]));
        serveFile(req, res, found.file, found.size, found.sha256, path.basename(found.file));
    };

    return (req, res, next) => {
        const url = (req.url ?? '').split('?')[0];
        if (!url.startsWith(mountPath)) return next();
        const local = url.slice(mountPath.length);
        const isUpload = local === UPLOAD_ROUTE || local.startsWith(UPLOAD_ROUTE + '/');
        const list = isUpload ? null : LIST_ROUTE.exec(local);
        const one = isUpload || list ? null : COPY_ROUTE.exec(local);
        if (!isUpload && !list && !one) return next();
        refuseCors(res);
        const serving = isUpload ? serveUploads(req, res, local) : serveCopies(req, res, list, one);
        serving.catch((err) => refuse(res, req, err));
    };
}

/** The routes alone, for a test's or tool's own http server: locks in memory, the automatic quota, no schedule. */
export function vaultHandler(options: Omit<RouteOptions, 'folder'> & { folder?: string }, mountPath = ''): VaultHandler {
    const folder = options.folder || options.dataDir;
    const locks = lockerFor('');
    const uploads = new UploadStore(folder, locks.get, { quotaBytes: 0, maxBytes: options.maxBytes, keep: options.keep }, DEFAULT_EXPIRE_MS);
    return vaultRoutes({ ...options, folder }, uploads, locks.get, mountPath);
}

/** The upload id of `<uploadRoot>/<id>`, when it is one the vault could have made; undefined otherwise. */
function uploadIdOf(req: IncomingMessage, uploadRoot: string): string | undefined {
    const url = (req.url ?? '').split('?')[0];
    if (!url.startsWith(uploadRoot + '/')) return undefined;
    const rest = url.slice(uploadRoot.length + 1).replace(/\/$/, '');
    if (rest.includes('/')) return undefined;
    let id: string;
    try {
        id = decodeURIComponent(rest);
    } catch {
        return undefined;
    }
    return UPLOAD_ID.test(id) ? id : undefined;
}

/** Uploads are from boats only: a device token (or, in open mode, the installation id as bearer); an operator's token is told so. */
async function admitDevice(options: RouteOptions, req: IncomingMessage): Promise<string> {
    const token = bearerToken(req.headers.authorization);
    try {
        return (await admitUploader(options.mode, token, options.dataDir)).installation_id;
    } catch (err) {
        if (options.mode === 'tokens' && err instanceof BoatDataError && err.statusCode === 401 && (await readOperators(options.dataDir)).has(token)) {
            throw new BoatDataError('VAULT_OPERATOR_UPLOAD', "operator tokens read, device tokens upload: this is an operator's token; a boat uploads with its own device token (devices.json)", 403);
        }
        throw err;
    }
}

/** One file, whole or from a `Range: bytes=<from>-[<to>]`, streamed. */
function serveFile(req: IncomingMessage, res: ServerResponse, file: string, size: number, sha256: string, name: string): void {
    const headers: Record<string, string> = {
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': `attachment; filename="${name}"`,
        'Accept-Ranges': 'bytes',
        'Cache-Control': 'no-store',
        'X-Content-SHA256': sha256,
        ETag: `"${sha256}"`,
    };
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
        if (start >= size || start > end) {
            res.writeHead(416, { 'Content-Range': `bytes */${size}` });
            res.end();
            return;
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = String(end - start + 1);
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) {
        res.end();
        return;
    }
    const stream = createReadStream(file, { start, end });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
}
