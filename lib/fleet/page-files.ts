/** The fleet page's files (nodes/fleet-page/page/), the only names it answers, with their types. */
export const PAGE_FILES: ReadonlyMap<string, string> = new Map([
    ['fleet.html', 'text/html; charset=utf-8'],
    ['fleet.js', 'text/javascript; charset=utf-8'],
    ['fleet.css', 'text/css; charset=utf-8'],
]);

/**
 * The page carries no data, only code: its data comes from
 * /api/v1/fleet/boats with the operator's token. These headers keep it so:
 * its own script and style only (what a boat sends, a name say, can never
 * run as script), no framing, no referrer, nothing cached.
 */
export const PAGE_HEADERS: Record<string, string> = {
    'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
};
