import type { IncomingMessage, ServerResponse } from 'http';
import { createReadStream, promises as fs } from 'fs';
import * as crypto from 'crypto';
import * as path from 'path';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import { BoatDataError, errorMessage } from '../errors';
import { admitReader, admitUploader, bearerToken, checkReads, IngestMode } from '../ingest/access';
import { acceptCopy, checkCopyName, copyFile, listCopies, removeStaleUploads, uploadsDir, VaultCopy } from './store';

/**
 * The vault's HTTP surface, one handler for Node-RED's http app:
 *
 * - `POST|HEAD|PATCH /api/v1/backup-uploads[/<id>]`: a boat uploads an
 *   encrypted backup with the tus resumable-upload protocol (the maintained
 *   `@tus/server` with its file store): a dropped link resumes at the byte
 *   the vault last wrote. Device token only; an upload belongs to the
 *   installation whose token created it.
 * - `GET /api/v1/installations/:id/backups`: a boat's copies, newest first.
 * - `GET /api/v1/installations/:id/backups/:name`: one copy, with HTTP Range
 *   so a recovery download resumes too.
 *
 * Readers are authorised as the ingest's readers are (an operator token for
 * every boat, a device token for its own).
 */
export const UPLOAD_ROUTE = '/api/v1/backup-uploads';
const LIST_ROUTE = /^\/api\/v1\/installations\/([^/]+)\/backups\/?$/;
const COPY_ROUTE = /^\/api\/v1\/installations\/([^/]+)\/backups\/([^/]+)$/;

export interface VaultOptions {
    dataDir: string;
    mode: IngestMode;
    keep: number;
    /** Largest backup accepted, in bytes. */
    maxBytes: number;
    onCopy?: (installationId: string, copy: VaultCopy) => void;
}

export type VaultHandler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

export function vaultHandler(options: VaultOptions, mountPath = ''): VaultHandler {
    const tus = new Server({
        path: mountPath + UPLOAD_ROUTE,
        datastore: new FileStore({ directory: uploadsDir(options.dataDir) }),
        maxSize: options.maxBytes,
        respectForwardedHeaders: false,
        // The upload's id starts with the installation it belongs to: a token of another boat cannot touch it.
        namingFunction: (req) => `${(req as AdmittedRequest).installationId}-${crypto.randomBytes(12).toString('hex')}`,
        // The bearer was admitted before the request got here (the handler below); the upload must be its boat's.
        onIncomingRequest: async (req, _res, uploadId) => {
            const installation = (req as AdmittedRequest).installationId;
            if (!installation || !uploadId.startsWith(`${installation}-`)) {
                throw { status_code: 403, body: JSON.stringify({ success: false, error: 'this upload belongs to another installation' }) };
            }
        },
        onUploadCreate: async (_req, res, upload) => {
            try {
                checkCopyName(upload.metadata?.filename);
            } catch (err) {
                throw { status_code: 400, body: JSON.stringify({ success: false, error: errorMessage(err) }) };
            }
            if (!/^[0-9a-f]{64}$/i.test(upload.metadata?.sha256 ?? ''))
                throw { status_code: 400, body: JSON.stringify({ success: false, error: "the upload must carry the backup's sha256 in its metadata" }) };
            return res;
        },
        onUploadFinish: async (req, res, upload) => {
            const installation = (req as AdmittedRequest).installationId!;
            const file = path.join(uploadsDir(options.dataDir), upload.id);
            try {
                const copy = await acceptCopy(options.dataDir, installation, upload.metadata!.filename!, file, upload.metadata!.sha256!, options.keep);
                await fs.rm(file + '.json', { force: true });
                options.onCopy?.(installation, copy);
                return res;
            } catch (err) {
                await fs.rm(file, { force: true }).catch(() => undefined);
                await fs.rm(file + '.json', { force: true }).catch(() => undefined);
                const status = err instanceof BoatDataError ? err.statusCode : 500;
                throw { status_code: status, body: JSON.stringify({ success: false, error: errorMessage(err), code: err instanceof BoatDataError ? err.code : null }) };
            }
        },
        onResponseError: (_req, _res, err) => {
            if (err instanceof BoatDataError) return { status_code: err.statusCode, body: JSON.stringify({ success: false, error: err.message, code: err.code }) };
            return undefined;
        },
    });

    return (req, res, next) => {
        const url = (req.url ?? '').split('?')[0];
        if (!url.startsWith(mountPath)) return next();
        const local = url.slice(mountPath.length);
        if (local === UPLOAD_ROUTE || local.startsWith(UPLOAD_ROUTE + '/')) {
            if (req.method === 'GET')
                return answer(res, 405, { success: false, error: 'uploads are written with the tus protocol (POST, HEAD, PATCH); read copies at /api/v1/installations/<id>/backups' });
            // Admitted first: the upload's id is named after the bearer's installation as it is made.
            admitDevice(options, req).then(
                (installation) => {
                    (req as AdmittedRequest).installationId = installation;
                    if (req.method === 'POST') void removeStaleUploads(options.dataDir).catch(() => undefined);
                    return tus.handle(req, res);
                },
                (err: { status_code: number; body: string }) => {
                    res.writeHead(err.status_code, { 'Content-Type': 'application/json; charset=utf-8', Connection: 'close' });
                    res.end(err.body);
                    req.resume();
                },
            );
            return;
        }
        const list = LIST_ROUTE.exec(local);
        const one = list ? null : COPY_ROUTE.exec(local);
        if (!list && !one) return next();
        if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, { success: false, error: 'the backup copies are read with GET' });
        void (async () => {
            const id = decodeURIComponent((list ?? one)![1]).toLowerCase();
            checkReads(await admitReader(options.mode, req.headers.authorization, options.dataDir), id);
            if (list) {
                const copies = await listCopies(options.dataDir, id);
                return answer(res, 200, { success: true, installation_id: id, count: copies.length, backups: copies });
            }
            const found = await copyFile(options.dataDir, id, decodeURIComponent(one![2]));
            serveFile(req, res, found.file, found.size, found.sha256, path.basename(found.file));
        })().catch((err) => {
            const status = err instanceof BoatDataError ? err.statusCode : 500;
            answer(res, status, { success: false, error: errorMessage(err), code: err instanceof BoatDataError ? err.code : null });
        });
    };
}

type AdmittedRequest = IncomingMessage & { installationId?: string };

/** Uploads are from boats only: a device token (or, in open mode, the installation id as bearer). */
async function admitDevice(options: VaultOptions, req: IncomingMessage): Promise<string> {
    try {
        return (await admitUploader(options.mode, bearerToken(req.headers.authorization), options.dataDir)).installation_id;
    } catch (err) {
        const status = err instanceof BoatDataError ? err.statusCode : 500;
        throw { status_code: status, body: JSON.stringify({ success: false, error: errorMessage(err) }) };
    }
}

/** One file, whole or from a `Range: bytes=<from>-[<to>]`, streamed. */
function serveFile(req: IncomingMessage, res: ServerResponse, file: string, size: number, sha256: string, name: string): void {
    const headers: Record<string, string> = {
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': `attachment; filename="${name}"`,
        'Accept-Ranges': 'bytes',
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

function answer(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) {
        res.destroy();
        return;
    }
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
}
