import { BoatDataError } from '../errors';
import { BodyShape, checkBody } from './body-shape';
import { BoatHosts } from './boat-hosts';
import { BODY_LIMITS, tooLarge } from './capped-body';
import { MAX_JSON_DEPTH, parseJsonObject, valueDepth } from './json-body';

/**
 * What decides whether an HTTP request may change the boat's data. The boat's
 * REST endpoints have no login (the touchscreen has no keyboard), so a web page
 * from anywhere, opened on any device on the boat's network, could otherwise
 * POST to them: it is refused unless it comes from a page of the boat itself.
 *
 * A browser marks every cross-site POST with an Origin header, and the only
 * bodies it can send cross-site without asking first (a CORS preflight, which
 * this package never approves) are forms and plain text. So: a foreign Origin
 * is refused, a form or text body is refused, and `curl -X POST` (no Origin,
 * no body or a JSON body) and the boat's own pages keep working.
 *
 * A request that passes is then held to its route: `Host` must be one of the
 * boat's names (against DNS rebinding, see boat-hosts.ts), and a body must be
 * one shallow JSON object with exactly the fields the route declares.
 */
export interface GuardRequest {
    method: string;
    headers: Record<string, string | string[] | undefined>;
    body?: unknown;
}

export interface GuardOptions {
    /** Origins allowed besides the boat's own, e.g. `http://helm.local:8080`. */
    allowedOrigins?: string[];
    /** Largest body accepted, in bytes. */
    maxBodyBytes?: number;
    /** The fields a body may hold; without one any shallow object passes. */
    shape?: BodyShape;
    /** The boat's names; without them Host is not checked. */
    boatHosts?: BoatHosts;
}

export type GuardVerdict = { allowed: true; body: unknown } | { allowed: false; statusCode: number; error: string };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The content types a cross-site page can send without a preflight (the CORS "simple" ones). */
const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];
export const DEFAULT_MAX_BODY_BYTES = BODY_LIMITS.maxBytes;

function header(request: GuardRequest, name: string): string | undefined {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
}

/** The host[:port] a URL-ish origin names, lower case, default ports dropped; null when it is not a web origin. */
export function originHost(origin: string): string | null {
    try {
        const url = new URL(origin);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
        return url.host.toLowerCase();
    } catch {
        return null;
    }
}

/**
 * Only the Host header names the boat. X-Forwarded-Host is not trusted: Node-RED's admin app approves any
 * preflight, so a foreign page can send that header with its own name. Behind a proxy, list its origin in
 * allowedOrigins.
 */
function hostOf(request: GuardRequest): string | undefined {
    return (
        header(request, 'host')
            ?.trim()
            .toLowerCase()
            .replace(/:(80|443)$/, '') || undefined
    );
}

export function sameOrigin(request: GuardRequest, origin: string, options: Pick<GuardOptions, 'allowedOrigins'>): boolean {
    const host = originHost(origin);
    if (!host) return false;
    if ((options.allowedOrigins ?? []).some((allowed) => originHost(allowed) === host)) return true;
    return hostOf(request) === host.replace(/:(80|443)$/, '');
}

function bodyBytes(body: unknown): number {
    if (Buffer.isBuffer(body)) return body.length;
    if (typeof body === 'string') return Buffer.byteLength(body);
    return 0;
}

/**
 * The body as one JSON object: raw bytes or text are parsed with a depth limit; an empty body is `{}`; a value
 * something else already parsed must be a shallow object too.
 */
export function parseJsonBody(body: unknown): Record<string, unknown> {
    if (body === undefined || body === null) return {};
    if (Buffer.isBuffer(body) || typeof body === 'string') return parseJsonObject(body);
    if (typeof body !== 'object' || Array.isArray(body)) {
        throw new BoatDataError('BODY_NOT_OBJECT', `the request body must be one JSON object such as {} or {"mode":"full"}, not ${Array.isArray(body) ? 'an array' : typeof body}`, 400);
    }
    if (valueDepth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
        throw new BoatDataError('BODY_TOO_DEEP', `the request body nests deeper than ${MAX_JSON_DEPTH} levels; send one flat JSON object`, 400);
    }
    return body as Record<string, unknown>;
}

export function checkRequest(request: GuardRequest, options: GuardOptions = {}): GuardVerdict {
    const method = request.method.toUpperCase();
    if (options.boatHosts && !options.boatHosts.allows(header(request, 'host'))) {
        const refusal = options.boatHosts.refusal(header(request, 'host'));
        return { allowed: false, statusCode: refusal.statusCode, error: refusal.message };
    }
    if (SAFE_METHODS.has(method)) return { allowed: true, body: request.body };

    const origin = header(request, 'origin');
    if (origin !== undefined && !sameOrigin(request, origin, options)) {
        return { allowed: false, statusCode: 403, error: `cross-site request refused: a page from ${origin} may not ${method} to this boat` };
    }
    const fetchSite = header(request, 'sec-fetch-site');
    if (origin === undefined && fetchSite === 'cross-site') {
        return { allowed: false, statusCode: 403, error: `cross-site request refused: the browser marked this ${method} as coming from another site` };
    }
    const contentType = (header(request, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (FORM_TYPES.includes(contentType)) {
        return { allowed: false, statusCode: 403, error: `a ${contentType} body is refused (a page on another site can send one); send JSON or no body` };
    }
    const max = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (bodyBytes(request.body) > max) {
        const refusal = tooLarge(max);
        return { allowed: false, statusCode: refusal.statusCode, error: refusal.message };
    }
    if (contentType !== '' && contentType !== 'application/json' && !contentType.endsWith('+json') && bodyBytes(request.body) > 0) {
        return { allowed: false, statusCode: 415, error: `the request body is ${contentType}; send application/json` };
    }
    try {
        const body = parseJsonBody(request.body);
        if (options.shape) checkBody(body, options.shape);
        return { allowed: true, body };
    } catch (err) {
        if (err instanceof BoatDataError) return { allowed: false, statusCode: err.statusCode, error: err.message };
        return { allowed: false, statusCode: 400, error: 'the request body could not be read' };
    }
}
