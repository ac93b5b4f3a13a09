import { createReadStream } from 'fs';
import type * as http from 'http';
import * as tus from 'tus-js-client';

/**
 * Sends one encrypted backup with the tus resumable-upload protocol
 * (`tus-js-client`). The whole rest of the file goes in one PATCH from the
 * offset the central side reports (no chunk limit): when the link drops,
 * the central side keeps every byte it wrote, and the next attempt asks
 * (HEAD) and goes on from there, so the bytes on the wire stay close to the
 * file's size however often the link drops. The file is read from disk in
 * slices; it is never held in memory.
 */
export interface SendRequest {
    centralUrl: string;
    token: string;
    file: string;
    name: string;
    sha256: string;
    size: number;
    /** Where an earlier attempt got to; null to start a new upload. */
    uploadUrl: string | null;
    /** Called once the central side has made the upload: write it down before sending a byte. */
    onUploadUrl: (url: string) => Promise<void>;
    onProgress?: (sent: number, total: number) => void;
    signal?: AbortSignal;
    /**
     * Largest PATCH, in bytes; default none (the rest of the file in one). Only for a central side behind a
     * proxy that buffers request bodies (and so drops a cut-off PATCH whole): each drop then loses at most one chunk.
     */
    chunkSize?: number;
    /** The link's counted agent (lib/link/meter.ts), so the copy's bytes count into today's. */
    agent?: http.Agent;
}

export type SendOutcome =
    | { kind: 'done' }
    /** No answer from the central side (a dropped or missing link). */
    | { kind: 'dropped'; reason: string }
    /** The central side answered with an error. */
    | { kind: 'refused'; status: number; reason: string }
    | { kind: 'aborted' };

export function sendCopy(request: SendRequest): Promise<SendOutcome> {
    return new Promise((resolve) => {
        let settled = false;
        let urlWritten: Promise<void> = Promise.resolve();
        const finish = (outcome: SendOutcome) => {
            if (settled) return;
            settled = true;
            request.signal?.removeEventListener('abort', onAbort);
            // The next attempt reads the state file: the URL must be in it by then.
            urlWritten.then(
                () => resolve(outcome),
                () => resolve(outcome),
            );
        };
        const upload = new tus.Upload(createReadStream(request.file), {
            // With an upload under way, only that one: were the endpoint given too, tus-js-client would start a
            // new upload (from byte 0) whenever asking where the old one stands fails, say while the central
            // side still holds the dropped connection's lock.
            ...(request.uploadUrl ? { uploadUrl: request.uploadUrl } : { endpoint: `${request.centralUrl}/api/v1/backup-uploads` }),
            uploadSize: request.size,
            ...(request.chunkSize && request.chunkSize > 0 ? { chunkSize: request.chunkSize } : {}),
            metadata: { filename: request.name, sha256: request.sha256 },
            headers: { Authorization: `Bearer ${request.token}` },
            ...(request.agent ? { httpStack: new tus.DefaultHttpStack({ agent: request.agent }) } : {}),
            // Retries are the worker's: it checks the central side's health first, so a missing link spends no try.
            retryDelays: [],
            storeFingerprintForResuming: false,
            removeFingerprintOnSuccess: false,
            // No byte goes to a new upload before its URL is written down, so a power cut at any moment resumes it
            // (tus-js-client does not wait for onUploadUrlAvailable; it does wait for onBeforeRequest).
            onUploadUrlAvailable: () => {
                urlWritten = request.onUploadUrl(upload.url!);
            },
            onBeforeRequest: async (req) => {
                if (req.getMethod() === 'PATCH') await urlWritten;
            },
            onProgress: (sent, total) => request.onProgress?.(sent, total),
            onSuccess: () => finish({ kind: 'done' }),
            onError: (err) => {
                if (request.signal?.aborted) return finish({ kind: 'aborted' });
                const res = (err as tus.DetailedError).originalResponse;
                const status = res ? res.getStatus() : 0;
                if (status > 0) finish({ kind: 'refused', status, reason: refusalText(status, res!.getBody()) });
                else finish({ kind: 'dropped', reason: shortReason(err) });
            },
        });
        const onAbort = () => {
            void upload.abort().catch(() => undefined);
            finish({ kind: 'aborted' });
        };
        request.signal?.addEventListener('abort', onAbort, { once: true });
        upload.start();
    });
}

function refusalText(status: number, body: string | undefined): string {
    try {
        const parsed = JSON.parse(body ?? '');
        if (typeof parsed?.error === 'string') return `the central side answered ${status}: ${parsed.error}`;
    } catch {
        // Not JSON: the status is enough.
    }
    return `the central side answered ${status}`;
}

/** tus-js-client's messages repeat the request headers (the token among them): only the cause is kept. */
function shortReason(err: Error): string {
    const cause = (err as tus.DetailedError).causingError;
    const text = cause?.message ?? err.message.split(',')[0];
    return text.replace(/Bearer\s+\S+/g, 'Bearer …').slice(0, 200);
}
