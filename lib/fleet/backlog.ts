import type { IngestStore } from '../ingest/store';

/**
 * What waits on a boat, as its upload tells the central side in one header:
 * `X-D3kOS-Backlog: exports=3; bytes=12345` (the exports still queued,
 * the one being sent included, and their size on the boat's disk). The
 * fleet page and the silent-boat alerts show the last one a boat sent.
 */
export const BACKLOG_HEADER = 'X-D3kOS-Backlog';

export interface Backlog {
    exports: number;
    bytes: number;
}

export function formatBacklog(backlog: Backlog): string {
    return `exports=${backlog.exports}; bytes=${backlog.bytes}`;
}

/** The backlog a header states, or null when it is missing or not understood (an older boat, a proxy's mangling): never a reason to refuse an upload. */
export function parseBacklog(header: string | string[] | undefined): Backlog | null {
    const text = Array.isArray(header) ? header[0] : header;
    if (!text || text.length > 200) return null;
    const fields = new Map<string, number>();
    for (const part of text.split(';')) {
        const match = /^\s*(exports|bytes)\s*=\s*(\d{1,15})\s*$/i.exec(part);
        if (match) fields.set(match[1].toLowerCase(), Number(match[2]));
    }
    const exports = fields.get('exports');
    const bytes = fields.get('bytes');
    return exports === undefined || bytes === undefined ? null : { exports, bytes };
}

/** Keeps the backlog an admitted upload reported with its installation; a failure to keep it costs the upload nothing. */
export async function noteBacklog(store: IngestStore, installationId: string, header: string | string[] | undefined, now = new Date()): Promise<void> {
    const backlog = parseBacklog(header);
    if (!backlog) return;
    await store.recordBacklog(installationId, backlog, now.toISOString()).catch(() => undefined);
}
