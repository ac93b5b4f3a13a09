import type { IncomingMessage, ServerResponse } from 'http';
import type { NodeAPI } from 'node-red';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type Middleware = (req: IncomingMessage & { _body?: boolean; originalUrl?: string }, res: ServerResponse, next: () => void) => void;
type ErrorMiddleware = (err: unknown, req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

interface RouterLayer {
    handle?: unknown;
    route?: { path: string; methods: Record<string, boolean>; stack: Array<{ handle: unknown }> };
}

interface ExpressApp {
    post(path: string, ...handlers: unknown[]): void;
    use(handler: Middleware | ErrorMiddleware): void;
    path(): string;
    parent?: ExpressApp;
    _router?: { stack: RouterLayer[] };
}

export interface ServedRoute {
    /** Another node (an http-in, say) already serves POST on this path and answers first. */
    taken: boolean;
    /** Removes exactly what this added, as an http-in node removes its own route on close. */
    remove(): void;
}

/**
 * Serves POST `path` on Node-RED's http-in app with `handler`, behind the
 * settings' httpNodeMiddleware as an http-in route is, with the request
 * stream unread: Node-RED's raw-body capture only takes http-in routes, and
 * the editor's app, which by default shares the root and parses the JSON and
 * form bodies of every request passing it, is told the body is taken care of
 * (`req._body`, the flag body-parser and Node-RED's own capture go by).
 */
export function servePost(RED: NodeAPI, path: string, handler: Handler): ServedRoute {
    const app = RED.httpNode as unknown as ExpressApp;
    const layers = (of: ExpressApp) => of._router?.stack ?? [];
    const taken = layers(app).some((layer) => layer.route?.path === path && layer.route.methods.post);

    const root = rootOf(app);
    const fullPath = normalise(app.path() + path);
    const keepUnread: Middleware = (req, _res, next) => {
        if (req.method === 'POST' && normalise((req.originalUrl ?? req.url ?? '').split('?')[0]) === fullPath) req._body = true;
        next();
    };
    root.use(keepUnread);
    const rootStack = layers(root);
    rootStack.unshift(
        ...rootStack.splice(
            rootStack.findIndex((layer) => layer.handle === keepUnread),
            1,
        ),
    );

    const middleware = (RED.settings as { httpNodeMiddleware?: unknown }).httpNodeMiddleware;
    const before = typeof middleware === 'function' || Array.isArray(middleware) ? [middleware] : [];
    app.post(path, ...before, handler);

    return {
        taken,
        remove: () => {
            const stack = layers(app);
            for (let i = stack.length - 1; i >= 0; i--) {
                if (stack[i].route?.stack.some((layer) => layer.handle === handler)) stack.splice(i, 1);
            }
            const guards = layers(root);
            const at = guards.findIndex((layer) => layer.handle === keepUnread);
            if (at >= 0) guards.splice(at, 1);
        },
    };
}

function rootOf(app: ExpressApp): ExpressApp {
    return app.parent ? rootOf(app.parent) : app;
}

/** As Express matches a path: case aside, one slash between parts, no trailing slash. */
function normalise(path: string): string {
    return path
        .replace(/\/{2,}/g, '/')
        .replace(/(.)\/$/, '$1')
        .toLowerCase();
}

/** The ingest's answers are under this path (the vault's tus uploads too). */
const INGEST_PREFIX = '/api/v1/';
/** tus answers its own OPTIONS (discovery): the vault's, not the ingest's. */
const VAULT_PREFIX = '/api/v1/backup-uploads';

const edges = new Map<ExpressApp, { users: number; remove: () => void }>();

/**
 * The ingest's edge on the Node-RED it runs in, shared by its nodes (one per endpoint) and removed after the
 * last: no answer under /api/v1/ carries an Access-Control-* header (Node-RED's editor app adds
 * `Access-Control-Allow-Origin: *` to every request and answers every preflight 204, when the editor and the
 * http nodes share the root), a preflight to the ingest is answered without CORS permission, and an error no
 * route answered (a path that is not valid percent-encoding, a body the editor's parser refused) is JSON
 * without a stack trace or a path of the server's, instead of Express's HTML page.
 */
export function guardIngestEdge(RED: NodeAPI): () => void {
    const root = rootOf(RED.httpNode as unknown as ExpressApp);
    let edge = edges.get(root);
    if (!edge) {
        const prefix = normalise((RED.httpNode as unknown as ExpressApp).path() + INGEST_PREFIX) + '/';
        const vault = normalise((RED.httpNode as unknown as ExpressApp).path() + VAULT_PREFIX);
        const front: Middleware = (req, res, next) => {
            const url = normalise((req.originalUrl ?? req.url ?? '').split('?')[0]) + '/';
            if (!url.startsWith(prefix)) return next();
            refuseCorsHeaders(res);
            if (req.method === 'OPTIONS' && !url.startsWith(vault + '/')) {
                res.writeHead(204, { Allow: 'GET, HEAD, POST, DELETE, OPTIONS', 'Content-Length': '0' });
                return void res.end();
            }
            next();
        };
        const last: ErrorMiddleware = (err, _req, res, next) => {
            if (res.headersSent) return next(err);
            const status = Number((err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode);
            const code = Number.isInteger(status) && status >= 400 && status < 600 ? status : 500;
            const text = JSON.stringify({ status: 'error', error: publicReason(code) });
            refuseCorsHeaders(res);
            res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
            res.end(text);
        };
        root.use(front);
        const stack = root._router?.stack ?? [];
        stack.unshift(
            ...stack.splice(
                stack.findIndex((layer) => layer.handle === front),
                1,
            ),
        );
        // Last in the stack: Express hands it what every layer before (the editor's app, the http nodes) left unanswered.
        root.use(last);
        const made = {
            users: 0,
            remove: () => {
                const layers = root._router?.stack ?? [];
                for (let i = layers.length - 1; i >= 0; i--) if (layers[i].handle === front || layers[i].handle === last) layers.splice(i, 1);
            },
        };
        edges.set(root, made);
        edge = made;
    }
    edge.users += 1;
    const mine = edge;
    let removed = false;
    return () => {
        if (removed) return;
        removed = true;
        mine.users -= 1;
        if (mine.users > 0) return;
        mine.remove();
        if (edges.get(root) === mine) edges.delete(root);
    };
}

/** A header set later by anyone (the editor's cors layer) that would let a web page read the answer is left out. */
function refuseCorsHeaders(res: ServerResponse): void {
    const setHeader = res.setHeader.bind(res);
    res.setHeader = ((name: string, value: number | string | readonly string[]) => (name.toLowerCase().startsWith('access-control-') ? res : setHeader(name, value))) as typeof res.setHeader;
    for (const name of res.getHeaderNames()) if (name.startsWith('access-control-')) res.removeHeader(name);
}

/** What an error nobody answered is told as: its kind, never its message (it can hold a path or a stack). */
function publicReason(status: number): string {
    if (status === 400) return 'the request is malformed (a path that is not valid percent-encoding, or a body that is not valid JSON)';
    if (status === 413) return 'the request body is larger than this server takes here';
    if (status === 415) return 'the request body is in an encoding or character set this server does not take';
    if (status < 500) return `the request was refused (${status})`;
    return 'the server could not answer this request; try again shortly';
}
