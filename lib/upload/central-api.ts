import axios, { AxiosResponse } from 'axios';
import type * as http from 'http';
import type * as https from 'https';
import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import { PassThrough, Readable, Transform } from 'stream';
import { compressor, UploadEncoding } from './encoding';
import { errorCode, errorMessage } from '../errors';
import { hashFile } from '../files/hash';
import { Backlog, BACKLOG_HEADER, formatBacklog } from '../fleet/backlog';
import { parseRetryAfter } from '../queue/retry-schedule';

export const DEFAULT_UPLOAD_TIMEOUT_MS = 30_000;
export const DEFAULT_HEALTH_TIMEOUT_MS = 5_000;

/** What the central side said it decodes (its health answer's accept_encoding); absent from an older central. */
export type CentralReach = { reachable: true; accept_encoding?: string[] } | { reachable: false; reason: string };

/** The counted agents of the boat's link (lib/link/meter.ts): every request of ours goes through them. */
export interface LinkAgents {
    httpAgent: http.Agent;
    httpsAgent: https.Agent;
}

/** What the central API made of one upload. */
export type UploadOutcome =
    | { kind: 'accepted'; status: number; import_id: string | null; records_imported: number | null; already_imported: boolean; bytes_sent: number }
    | { kind: 'retry'; status?: number; reason: string; retry_after_ms: number | null; bytes_sent: number }
    | { kind: 'rejected'; status?: number; reason: string; bytes_sent: number }
    | { kind: 'unreachable'; reason: string }
    | { kind: 'aborted'; reason: string }
    /** 415: the central side does not decode this encoding; it named those it does (RFC 9110 Accept-Encoding). */
    | { kind: 'encoding'; status: 415; accepted: string[]; bytes_sent: number };

export interface UploadRequest {
    centralUrl: string;
    file: string;
    exportId: string;
    /** The device token, or the installation id on boats that have none. Never logged, never in a reason. */
    token: string;
    timeoutMs?: number;
    healthTimeoutMs?: number;
    signal?: AbortSignal;
    /** Sent instead of the file's bytes: an old export service's file in the current format (see old-service-export.ts). */
    body?: Buffer;
    /** Sent instead of the file's bytes: one part of it (see part-body.ts). */
    source?: () => Readable;
    /** gzip unless the central side said it takes br. */
    encoding?: UploadEncoding;
    /** The file is already compressed in `encoding`: its bytes are the body. */
    stored?: boolean;
    agents?: LinkAgents;
    /** What waits on the boat, told to the central side's fleet page (X-D3kOS-Backlog). */
    backlog?: Backlog;
}

/** The answers of a network that is simply not there: the boat is at sea, nothing is wrong with the export. */
const OUT_OF_REACH = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'EADDRNOTAVAIL']);

/**
 * Is the central API itself there? Asked of its own health endpoint (never a
 * public host), and only a JSON answer counts: a marina's captive portal
 * answers 200 with a login page to everything.
 */
export async function checkCentral(centralUrl: string, options: { timeoutMs?: number; signal?: AbortSignal; agents?: LinkAgents } = {}): Promise<CentralReach> {
    try {
        const res = await axios.get(`${centralUrl}/api/v1/health`, {
            ...(options.agents ?? {}),
            timeout: options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS,
            signal: options.signal,
            validateStatus: () => true,
            responseType: 'text',
            transformResponse: (data: unknown) => data,
            maxRedirects: 0,
            maxContentLength: 64 * 1024,
        });
        if (res.status < 200 || res.status >= 300) return { reachable: false, reason: `the central API's health check at ${shownUrl(centralUrl)} answered ${res.status}` };
        const body = jsonObject(res.data);
        if (body === null) {
            return { reachable: false, reason: `something at ${shownUrl(centralUrl)} answered the health check, but not as the d3kOS central API does (a captive portal?)` };
        }
        const accepted = Array.isArray(body.accept_encoding) ? body.accept_encoding.filter((e): e is string => typeof e === 'string') : undefined;
        return accepted ? { reachable: true, accept_encoding: accepted } : { reachable: true };
    } catch (err) {
        return { reachable: false, reason: `the central API at ${shownUrl(centralUrl)} is out of reach (${networkProblem(err)})` };
    }
}

/**
 * The central URL as a reason may show it: reasons reach the node status, the
 * queue status answer and the dashboard, so a `user:pass@` an installer put
 * in the URL, or a key in its query string, must not.
 */
export function shownUrl(centralUrl: string): string {
    const url = URL.canParse(centralUrl) ? new URL(centralUrl) : null;
    if (url && (url.protocol === 'http:' || url.protocol === 'https:')) return url.origin + (url.pathname === '/' ? '' : url.pathname);
    // Not a URL axios could use either; the same cut by hand.
    return centralUrl.replace(/^([^/?#]*\/\/)?[^/?#]*@/, '$1').replace(/[?#].*$/, '');
}

/**
 * Posts one export file, compressed (brotli or gzip) as it is read (an
 * export can be tens of MB; it is never parsed or held whole in memory).
 */
export async function uploadExport(request: UploadRequest): Promise<UploadOutcome> {
    const encoding = request.encoding ?? 'gzip';
    const source = request.body ? Readable.from([request.body]) : request.source ? request.source() : createReadStream(request.file);
    // A file stored compressed goes as it is: a retry costs no CPU.
    const gzip = request.stored ? new PassThrough() : compressor(encoding);
    let bytesSent = 0;
    const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
            bytesSent += chunk.length;
            callback(null, chunk);
        },
    });
    source.on('error', (err: Error) => gzip.destroy(err));
    gzip.on('error', (err) => counter.destroy(err));
    source.pipe(gzip).pipe(counter);
    let res: AxiosResponse<string>;
    try {
        res = await axios.post(`${request.centralUrl}/api/v1/data/import`, counter, {
            ...(request.agents ?? {}),
            headers: {
                Authorization: `Bearer ${request.token}`,
                'Idempotency-Key': request.exportId,
                'Content-Type': 'application/json',
                'Content-Encoding': encoding,
                ...(request.backlog ? { [BACKLOG_HEADER]: formatBacklog(request.backlog) } : {}),
            },
            timeout: request.timeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS,
            signal: request.signal,
            validateStatus: () => true,
            responseType: 'text',
            transformResponse: (data: unknown) => data,
            // A redirect would re-send the token to wherever it points.
            maxRedirects: 0,
            maxBodyLength: Infinity,
            maxContentLength: 1024 * 1024,
        });
    } catch (err) {
        if (request.signal?.aborted || axios.isCancel(err)) return { kind: 'aborted', reason: 'the upload was stopped because Node-RED is stopping; it will be sent again' };
        if ((err as NodeJS.ErrnoException).path === request.file) {
            return { kind: 'rejected', reason: `the export file ${path.basename(request.file)} could not be read (${errorMessage(err)})`, bytes_sent: bytesSent };
        }
        const problem = networkProblem(err);
        if (OUT_OF_REACH.has(errorCode(err) ?? '')) return { kind: 'unreachable', reason: `the central API is out of reach (${problem})` };
        // The link may have gone mid-upload, or the server is at fault: only the server's fault uses a try.
        const reach = await checkCentral(request.centralUrl, { timeoutMs: request.healthTimeoutMs, signal: request.signal, agents: request.agents });
        if (!reach.reachable) return { kind: 'unreachable', reason: `the connection was lost during the upload (${problem}); ${reach.reason}` };
        return { kind: 'retry', reason: `the upload did not finish (${problem})`, retry_after_ms: null, bytes_sent: bytesSent };
    } finally {
        source.destroy();
        gzip.destroy();
        counter.destroy();
    }
    return judgeAnswer(res, request.token, bytesSent);
}

/** Server answers decide: success (or "already imported"), later, or never. */
function judgeAnswer(res: AxiosResponse<string>, token: string, bytesSent: number): UploadOutcome {
    const status = res.status;
    const body = jsonObject(res.data);
    const detail = redact(describeBody(body, res.data), token);
    if (status >= 200 && status < 300) {
        if (body && (body.status === 'success' || body.success === true || alreadyImported(body))) {
            return {
                kind: 'accepted',
                status,
                import_id: typeof body.import_id === 'string' || typeof body.import_id === 'number' ? String(body.import_id) : null,
                records_imported: typeof body.records_imported === 'number' ? body.records_imported : null,
                already_imported: alreadyImported(body),
                bytes_sent: bytesSent,
            };
        }
        // An empty or foreign 200 is not a stored export: the placeholder "success" of the old service must never recur.
        return { kind: 'retry', status, reason: `the central API answered ${status} but did not confirm the import (${detail}); check the central URL`, retry_after_ms: null, bytes_sent: bytesSent };
    }
    if (status === 409 && body && alreadyImported(body)) {
        return { kind: 'accepted', status, import_id: typeof body.import_id === 'string' ? body.import_id : null, records_imported: null, already_imported: true, bytes_sent: bytesSent };
    }
    if (status === 415) {
        const accepted = String(res.headers['accept-encoding'] ?? '')
            .split(',')
            .map((e) => e.trim().toLowerCase())
            .filter(Boolean);
        return { kind: 'encoding', status, accepted, bytes_sent: bytesSent };
    }
    if (status >= 300 && status < 400) {
        return {
            kind: 'rejected',
            status,
            reason: `the central API redirected the upload to ${res.headers.location ?? 'another address'}; set the central URL to the address it names`,
            bytes_sent: bytesSent,
        };
    }
    if (status === 408 || status === 429 || status >= 500) {
        return {
            kind: 'retry',
            status,
            reason: `the central API answered ${status}${res.statusText ? ` ${res.statusText}` : ''} (${detail})`,
            retry_after_ms: parseRetryAfter(res.headers['retry-after'], new Date()),
            bytes_sent: bytesSent,
        };
    }
    return { kind: 'rejected', status, reason: `the central API refused the export: ${status}${res.statusText ? ` ${res.statusText}` : ''} (${detail})`, bytes_sent: bytesSent };
}

/**
 * A missing or changed export file fails at once with the reason: it can
 * never succeed, and retrying it forever was one of the old service's faults.
 */
export async function checkExportFile(file: string, sha256: string | null): Promise<string | null> {
    try {
        const stat = await fs.stat(file);
        if (!stat.isFile()) return `the export file ${file} is not a file`;
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return `the export file ${file} is missing (deleted or moved since it was queued); it cannot be uploaded`;
        return `the export file ${file} could not be read (${errorMessage(err)})`;
    }
    if (!sha256) return null;
    const actual = await hashFile(file);
    if (actual.sha256 !== sha256) return `the export file ${path.basename(file)} was changed after it was made (its checksum no longer matches); it was not uploaded`;
    return null;
}

function alreadyImported(body: Record<string, unknown>): boolean {
    if (body.already_imported === true || body.duplicate === true || body.status === 'already_imported') return true;
    return /already (been )?imported/i.test(String(body.message ?? body.error ?? ''));
}

function jsonObject(data: unknown): Record<string, unknown> | null {
    if (typeof data !== 'string' || data.trim() === '') return null;
    try {
        const parsed = JSON.parse(data);
        return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : null;
    } catch {
        return null;
    }
}

function describeBody(body: Record<string, unknown> | null, raw: unknown): string {
    const said = body?.error ?? body?.message;
    if (typeof said === 'string' && said) return said.slice(0, 200);
    const text = typeof raw === 'string' ? raw.trim() : '';
    if (text === '') return 'an empty answer';
    return body ? JSON.stringify(body).slice(0, 200) : `not JSON: ${JSON.stringify(text.slice(0, 80))}`;
}

/** A server that echoes the Authorization header must not put the token in the queue file or a log line. */
function redact(text: string, token: string): string {
    return token ? text.split(token).join('[redacted]') : text;
}

function networkProblem(err: unknown): string {
    const code = errorCode(err);
    const message = errorMessage(err);
    if (code === 'ECONNABORTED' || /timeout/i.test(message)) return `no answer in time: ${message}`;
    return code && !message.includes(code) ? `${code}: ${message}` : message;
}
