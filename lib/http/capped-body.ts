import type { Readable } from 'stream';
import { BoatDataError } from '../errors';

/**
 * Reads a request body under a size cap and a deadline. The boat's routes take
 * a few hundred bytes of JSON at most, and anyone on the boat's Wi-Fi can send
 * one: an announced length over the cap is refused before a byte is read, a
 * body that grows past it is cut there, and one that trickles in is dropped,
 * so no request can grow or hold the Node-RED that also runs the helm.
 */
export interface BodyLimits {
    /** The most bytes read. */
    maxBytes: number;
    /** The whole body must arrive within this many milliseconds of the start of reading. */
    deadlineMs: number;
}

export const BODY_LIMITS: BodyLimits = { maxBytes: 64 * 1024, deadlineMs: 5000 };

export function tooLarge(maxBytes: number): BoatDataError {
    return new BoatDataError('BODY_TOO_LARGE', `the request body is larger than ${maxBytes / 1024} KB, the most a boat route takes`, 413);
}

/** The refusal for a Content-Length over the cap, or null: decided before the body is read. */
export function announcedTooLarge(headers: Record<string, string | string[] | undefined>, maxBytes: number): BoatDataError | null {
    const announced = headers['content-length'];
    if (announced === undefined) return null;
    const length = Number(Array.isArray(announced) ? announced[0] : announced);
    return Number.isFinite(length) && length <= maxBytes ? null : tooLarge(maxBytes);
}

/** The body, whole; rejects with a 413 (cut at the cap), a 408 (too slow) or BODY_ABORTED (the sender went away). */
export function readCappedBody(stream: Readable, limits: BodyLimits = BODY_LIMITS): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        if (stream.readableEnded) return resolve(Buffer.alloc(0));
        const chunks: Buffer[] = [];
        let received = 0;
        const finish = (err: BoatDataError | null) => {
            clearTimeout(timer);
            stream.off('data', onData);
            stream.off('end', onEnd);
            stream.off('error', onClose);
            stream.off('close', onClose);
            if (err) {
                // Leave the rest unread: the caller answers and closes the connection.
                stream.pause();
                chunks.length = 0;
                reject(err);
            } else {
                resolve(Buffer.concat(chunks, received));
            }
        };
        const onData = (chunk: Buffer) => {
            received += chunk.length;
            if (received > limits.maxBytes) return finish(tooLarge(limits.maxBytes));
            chunks.push(chunk);
        };
        const onEnd = () => finish(null);
        const onClose = () => finish(new BoatDataError('BODY_ABORTED', 'the sender closed the connection before the body was complete', 400));
        const timer = setTimeout(() => finish(new BoatDataError('BODY_TOO_SLOW', `the request body did not arrive within ${limits.deadlineMs / 1000} s`, 408)), limits.deadlineMs);
        stream.on('data', onData);
        stream.on('end', onEnd);
        stream.on('error', onClose);
        stream.on('close', onClose);
    });
}
