import type { IncomingMessage, ServerResponse } from 'http';
import { withoutCors } from '../http/cors';
import { BoatDataError, errorMessage } from '../errors';
import { IngestSettings, receiveUpload } from './ingest';
import { ACCEPTED_ENCODINGS } from './body';
import { RetryLaterError } from './spool-folder';
import type { ImportAnswer, IngestStore } from './store';

/**
 * How much of a refused upload is taken and dropped, at most, after the
 * answer: more than a client has in flight before it reads the answer (a
 * local client pushes some 6 MB into socket buffers first), never the rest
 * of a 400 MB one.
 */
export const DRAIN_BYTES = 16 * 1024 * 1024;
export const DRAIN_MS = 5000;

export interface ImportTarget {
    store: IngestStore;
    settings: IngestSettings;
}

export type ImportOutcome = { answer: ImportAnswer } | { error: Error; statusCode: number };

/**
 * POST /api/v1/data/import as a plain request handler, for a route the ingest
 * serves itself: the request stream reaches it unread, so the bearer and a
 * declared Content-Length are judged before a byte of the body is read, and
 * the body is gunzipped under the cap as it arrives. Answers JSON: the import
 * answer, or `{status: "error", error}` with the error's status code.
 */
export function importRoute(target: () => Promise<ImportTarget>, report: (outcome: ImportOutcome) => void = () => undefined) {
    return (req: IncomingMessage, res: ServerResponse): void => {
        target()
            .then(({ store, settings }) => receiveUpload(store, settings, { headers: req.headers, body: unreadBody(req) }))
            .then(
                (answer) => {
                    // An Idempotency-Key already imported is answered before the body is read.
                    const bodyStillComing = !req.readableEnded && !req.destroyed;
                    if (bodyStillComing) closeAfterAnswer(req, res);
                    answerJson(res, 200, answer, bodyStillComing ? { Connection: 'close' } : {});
                    report({ answer });
                },
                (err: unknown) => {
                    const statusCode = err instanceof BoatDataError ? err.statusCode : 500;
                    const bodyStillComing = !req.readableEnded && !req.destroyed;
                    if (bodyStillComing) closeAfterAnswer(req, res);
                    const headers: Record<string, string> = {
                        ...(err instanceof RetryLaterError ? { 'Retry-After': String(err.retryAfterSeconds) } : {}),
                        ...(bodyStillComing ? { Connection: 'close' } : {}),
                    };
                    // RFC 9110 §15.5.16: a 415 for an encoding names those the server takes.
                    if (statusCode === 415) headers['Accept-Encoding'] = ACCEPTED_ENCODINGS.join(', ');
                    answerJson(res, statusCode, { status: 'error', error: errorMessage(err) }, headers);
                    report({ error: err instanceof Error ? err : new Error(String(err)), statusCode });
                },
            );
    };
}

/** The request stream; bytes something in front has already read whole (an http-in route on the same path) are taken as they are. */
function unreadBody(req: IncomingMessage & { body?: unknown }): IncomingMessage | Buffer {
    if (!req.readableEnded) return req;
    if (Buffer.isBuffer(req.body)) return req.body;
    throw new BoatDataError('INGEST_BODY_READ', 'the upload was read before the ingest saw it: another node or middleware parses POST bodies on this path', 500);
}

function answerJson(res: ServerResponse, statusCode: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    withoutCors(res);
    const text = JSON.stringify(body);
    res.writeHead(statusCode, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
}

/**
 * A refused upload's body is not wanted, and its connection is not used
 * again (the answer says "Connection: close"). Node ends such an answer with
 * FIN and an immediate close, and closing while the client's bytes still
 * arrive resets the connection, which can take the answer with it before the
 * client has read it. So the socket is only half-closed (a client stops
 * sending when it sees the FIN), what still comes is dropped, and the
 * connection is closed when the body ends, or cut past DRAIN_BYTES or DRAIN_MS.
 */
function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    socket.destroySoon = () => void socket.end();
    let dropped = 0;
    const close = () => {
        clearTimeout(timer);
        req.off('data', count);
        if (res.writableFinished) socket.destroy();
        else res.once('finish', () => socket.destroy());
    };
    const count = (chunk: Buffer) => {
        dropped += chunk.length;
        if (dropped > DRAIN_BYTES) close();
    };
    const timer = setTimeout(close, DRAIN_MS).unref();
    req.on('data', count);
    // The client hanging up mid-body is expected here, not an error.
    req.on('error', () => undefined);
    req.once('end', close);
    req.once('close', () => clearTimeout(timer));
    req.resume();
}
