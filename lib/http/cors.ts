/**
 * Takes off every `Access-Control-*` header a middleware in front set, so no
 * page on another site may read the answer. Node-RED's admin app adds
 * `Access-Control-Allow-Origin: *` to every request when the editor and the
 * http nodes share the root path (its default); the boat's routes and the
 * ingest's answers both go out without it.
 */
export function withoutCors(res: { getHeaderNames(): string[]; removeHeader(name: string): void; headersSent?: boolean }): void {
    if (res.headersSent) return;
    for (const name of res.getHeaderNames()) if (name.toLowerCase().startsWith('access-control-')) res.removeHeader(name);
}
