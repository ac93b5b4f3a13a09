import { BoatDataError } from '../errors';
import { GuardRequest, originHost, sameOrigin } from './request-guard';

/**
 * The boat's rules for Node-RED's editor and admin API while Node-RED has no
 * `adminAuth`. Without a password, whoever can send the editor a request can
 * deploy a flow, and a flow runs programs as the user Node-RED runs as. A web
 * page can send one from any browser on board (a plain HTML form POST to
 * `/flow` needs no script), so the editor answers only what a browser sends
 * from the editor itself: the boat's own name in `Host` (against DNS
 * rebinding), no other site's Origin or Referer, no form or text bodies (the
 * ones a page may send cross-site without asking), and no CORS permission for
 * any other site. The editor's own use (same-origin requests with JSON bodies,
 * its websocket from the same host) and `curl` on the boat keep working.
 */
export interface EditorRules {
    allowsHost(host: string | undefined): boolean;
    hostRefusal(host: string | undefined): BoatDataError;
    /** Origins allowed besides the boat's own (a proxy's public name, say). */
    allowedOrigins: string[];
}

const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * Paths of Node-RED's editor and admin API below the admin root: the editor page and its files, and every route
 * of @node-red/editor-api (4.1). Routes nodes add to RED.httpAdmin (/inject/:id, /debug/…) are found in that app.
 */
export const EDITOR_PATHS =
    /^\/(?:$|(?:flows|flow|nodes|settings|auth|context|inject|diagnostics|plugins|icons|locales|library|debug|credentials|resources|theme|projects|red|vendor|types)(?:\/|$)|favicon\.ico$|comms$)/i;

function header(request: GuardRequest, name: string): string | undefined {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
}

function refused(message: string): BoatDataError {
    return new BoatDataError('EDITOR_CROSS_SITE', `${message}; the Node-RED editor has no password, so it answers only its own pages on the boat (set adminAuth in settings.js to change that)`, 403);
}

/** Null when the request may go on to Node-RED's editor; otherwise why not. */
export function checkEditorRequest(request: GuardRequest, rules: EditorRules): BoatDataError | null {
    const method = request.method.toUpperCase();
    const host = header(request, 'host');
    if (!rules.allowsHost(host)) return rules.hostRefusal(host);
    const origin = header(request, 'origin');
    if (origin !== undefined && !sameOrigin(request, origin, rules)) return refused(`a page from ${origin} may not use the editor`);
    const referer = header(request, 'referer');
    if (referer !== undefined && !(originHost(referer) !== null && sameOrigin(request, referer, rules))) {
        return refused(`a page from ${originHost(referer) ?? 'another site'} may not use the editor`);
    }
    if (header(request, 'sec-fetch-site') === 'cross-site') return refused('the browser marked this request as coming from another site');
    if (method === 'OPTIONS') return refused('no other site is given permission (CORS) to use the editor');
    if (SAFE_METHODS.has(method)) return null;
    const contentType = (header(request, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (FORM_TYPES.includes(contentType)) return refused(`a ${contentType} body is refused (a page on another site can send one); send JSON`);
    return null;
}

/** The beginning of the /health problem, as the Data Management page's notice looks for it. */
export const OPEN_EDITOR_PROBLEM =
    "the Node-RED editor has no password and answers on the boat's network: anyone on board can change the flows and run programs on the boat; set adminAuth in Node-RED's settings.js";
