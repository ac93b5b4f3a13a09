import type { OutgoingHttpHeaders, ServerResponse } from 'http';
import { BoatDataError } from '../errors';
import { withoutCors } from '../http/cors';

/**
 * What every vault answer has in common at the edge: no CORS permission (no
 * page on another site may read or send a backup, preflights included), no
 * absolute path in an error, and a bound on the requests one boat or one
 * upload may have under way at once.
 */

const isCors = (name: string) => name.toLowerCase().startsWith('access-control-');

/**
 * Takes off the `Access-Control-*` headers set so far (Node-RED's editor app
 * allows every origin) and drops any set later (the tus server sets its own).
 */
export function refuseCors(res: ServerResponse): void {
    withoutCors(res);
    const setHeader = res.setHeader.bind(res);
    res.setHeader = ((name: string, value: number | string | readonly string[]) => (isCors(name) ? res : setHeader(name, value))) as ServerResponse['setHeader'];
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
    res.writeHead = ((...args: unknown[]) => writeHead(...args.map((arg) => (arg && typeof arg === 'object' ? headersWithoutCors(arg as OutgoingHttpHeaders) : arg)))) as ServerResponse['writeHead'];
}

function headersWithoutCors(headers: OutgoingHttpHeaders | unknown[]): OutgoingHttpHeaders | unknown[] {
    if (Array.isArray(headers)) {
        // Node's flat form: name, value, name, value…
        const kept: unknown[] = [];
        for (let i = 0; i + 1 < headers.length; i += 2) if (!isCors(String(headers[i]))) kept.push(headers[i], headers[i + 1]);
        return kept;
    }
    return Object.fromEntries(Object.entries(headers).filter(([name]) => !isCors(name)));
}

/** Requests one upload may have under way at once (its PATCH, a HEAD after a dropped link, one to spare). */
export const REQUESTS_PER_UPLOAD = 4;
/** Requests one boat may have under way at once, all its uploads and reads together. */
export const REQUESTS_PER_BOAT = 8;
export const RETRY_AFTER_S = 5;

/** Counts requests under way by key; a request over the bound is refused at once, never queued. */
export class Slots {
    private readonly busy = new Map<string, number>();

    constructor(private readonly limit: number) {}

    /** A slot for `key`, freed by the returned function (once), or null when all are taken. */
    take(key: string): (() => void) | null {
        const now = this.busy.get(key) ?? 0;
        if (now >= this.limit) return null;
        this.busy.set(key, now + 1);
        let freed = false;
        return () => {
            if (freed) return;
            freed = true;
            const left = (this.busy.get(key) ?? 1) - 1;
            if (left <= 0) this.busy.delete(key);
            else this.busy.set(key, left);
        };
    }
}

export function tooManyRequests(what: string, limit: number): BoatDataError {
    return new BoatDataError('VAULT_TOO_MANY_REQUESTS', `${what} already has ${limit} requests under way at the vault; try again in ${RETRY_AFTER_S} s`, 429);
}

/** The central's folders, as an answer may name them: by what they are, never by where. */
export type FolderNames = Array<[folder: string, name: string]>;

/** The words of an error for the boat or operator, with the central's folders taken out of them. */
export function publicMessage(err: unknown, folders: FolderNames): string {
    if (!(err instanceof BoatDataError)) return 'the vault could not complete this request; the central Node-RED log says why';
    let text = err.message;
    for (const [folder, name] of folders) text = text.split(folder).join(name);
    return text;
}

export function errorBody(err: unknown, folders: FolderNames): { status: number; body: string } {
    const status = err instanceof BoatDataError ? err.statusCode : 500;
    const code = err instanceof BoatDataError ? err.code : 'VAULT_FAILED';
    return { status, body: JSON.stringify({ success: false, error: publicMessage(err, folders), code }) };
}

/** Answers JSON; a request whose body is not read is drained and its connection closed. */
export function answerJson(res: ServerResponse, status: number, body: string, headers: OutgoingHttpHeaders = {}): void {
    if (res.headersSent) {
        res.destroy();
        return;
    }
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
    res.end(body);
}
