import type { IncomingMessage, ServerResponse } from 'http';
import type { NodeAPI } from 'node-red';
import { announcedTooLarge, BODY_LIMITS, BodyLimits, readCappedBody } from '../../lib/http/capped-body';
import { BoatDataError, errorMessage } from '../../lib/errors';
import { fromHelm } from '../../lib/http/helm';

/**
 * One middleware at the top of Node-RED's root app, shared by every request
 * guard, that serves the transport side of the routes wired into a guard
 * (`http in → d3kos-request-guard`) before Node-RED touches the request:
 * `Host` must be one of the boat's names, and the body is read under the cap
 * and handed to the http-in node already read (`req._body`, the flag
 * body-parser and Node-RED's parsers go by), so Node-RED's own raw-body
 * capture, which reads any body whole, never sees it. It also answers, as
 * JSON, what Express would answer as an HTML page: a method the path does not
 * serve, a bad %-escape in the path, an error on the way.
 *
 * The routes are found from the flow, not declared twice: every http-in node
 * wired into a live guard, looked up again after each deploy.
 */
export interface RouteGuard {
    id: string;
    allowsHost(host: string | undefined): boolean;
    hostRefusal(host: string | undefined): BoatDataError;
    /** Answers only requests made on the boat's own computer (see lib/http/helm.ts). */
    helmOnly: boolean;
    /** Tells the guard's status and log that the middleware refused a request of its route. */
    refused(method: string, path: string, error: BoatDataError): void;
}

interface ExpressLayer {
    handle?: unknown;
    name?: string;
    regexp?: RegExp;
    route?: { path: string; methods: Record<string, boolean> };
}

interface ExpressApp {
    path(): string;
    use(handler: unknown): void;
    parent?: ExpressApp;
    _router?: { stack: ExpressLayer[] };
}

type Request = IncomingMessage & { body?: unknown; _body?: boolean; skipRawBodyParser?: boolean; d3kosBodyRead?: boolean };
type Next = (err?: unknown) => void;

interface GuardedRoute {
    method: string;
    url: string;
    guards: RouteGuard[];
}

type Match = { kind: 'guarded'; route: GuardedRoute; path: string } | { kind: 'method-not-served'; allow: string[]; path: string } | { kind: 'bad-escape'; path: string };

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

/** Answers `{success:false, error, code}`; closes the connection when a body was left unread. */
export function answerJson(req: IncomingMessage, res: ServerResponse, statusCode: number, error: string, code: string, headers: Record<string, string> = {}): void {
    if (res.headersSent) {
        res.destroy();
        return;
    }
    const body = JSON.stringify({ success: false, error, code });
    const unread = !req.readableEnded && hasBody(req);
    res.writeHead(statusCode, { ...JSON_HEADERS, 'Content-Length': String(Buffer.byteLength(body)), ...(unread ? { Connection: 'close' } : {}), ...headers });
    res.end(body);
}

function hasBody(req: IncomingMessage): boolean {
    const length = req.headers['content-length'];
    return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function pathnameOf(url: string | undefined): string | null {
    if (!url) return null;
    if (url.startsWith('/')) return url.split(/[?#]/)[0];
    try {
        return new URL(url).pathname; // absolute-form request target
    } catch {
        return null;
    }
}

function serves(layer: ExpressLayer, method: string): boolean {
    const methods = layer.route!.methods;
    return Boolean(methods[method] || methods._all || (method === 'head' && methods.get));
}

class BoatRoutes {
    private readonly guards = new Map<string, RouteGuard>();
    private routes: GuardedRoute[] = [];
    private readonly onFlowsStarted = () => this.rebuild();

    constructor(
        private readonly RED: NodeAPI,
        private readonly root: ExpressApp,
        private readonly limits: BodyLimits,
    ) {}

    get empty(): boolean {
        return this.guards.size === 0;
    }

    add(guard: RouteGuard): void {
        if (this.empty) this.install();
        this.guards.set(guard.id, guard);
        this.rebuild();
    }

    remove(id: string): void {
        this.guards.delete(id);
        if (this.empty) this.uninstall();
        else this.rebuild();
    }

    /** Every http-in node wired into a live guard, from the deployed flow configuration. */
    private rebuild(): void {
        const routes = new Map<string, GuardedRoute>();
        (this.RED.nodes as unknown as { eachNode(cb: (n: Record<string, any>) => void): void }).eachNode((n) => {
            if (n.type !== 'http in' || typeof n.url !== 'string' || !n.url || !Array.isArray(n.wires)) return;
            const guards = (n.wires as unknown[])
                .flat()
                .map((id) => this.guards.get(String(id)))
                .filter((g): g is RouteGuard => g !== undefined);
            if (guards.length === 0) return;
            const url = n.url.startsWith('/') ? n.url : '/' + n.url;
            const method = String(n.method || 'get').toLowerCase();
            const key = `${method} ${url}`;
            const known = routes.get(key);
            if (known) known.guards.push(...guards);
            else routes.set(key, { method, url, guards });
        });
        this.routes = [...routes.values()];
    }

    private nodeApp(): ExpressApp {
        return this.RED.httpNode as unknown as ExpressApp;
    }

    /** Which guarded route a request is for, the way Express's router will match it (its own layers' regexps). */
    private match(req: IncomingMessage): Match | null {
        const pathname = pathnameOf(req.url);
        if (pathname === null) return null;
        const mount = this.nodeApp().path().replace(/\/$/, '');
        if (mount && !(pathname.toLowerCase().startsWith(mount.toLowerCase()) && /^(\/|$)/.test(pathname.slice(mount.length)))) return null;
        const path = pathname.slice(mount.length) || '/';
        const method = (req.method ?? 'GET').toLowerCase();
        const allow = new Set<string>();
        let ours = false;
        for (const layer of this.nodeApp()._router?.stack ?? []) {
            if (!layer.route || !layer.regexp) continue;
            const found = layer.regexp.exec(path);
            if (!found) continue;
            const mine = this.routes.filter((r) => r.url === layer.route!.path && layer.route!.methods[r.method]);
            if (mine.length > 0) {
                ours = true;
                // Express would fail to decode a parameter and answer its HTML error page.
                for (const value of found.slice(1)) {
                    if (!value || !value.includes('%')) continue;
                    try {
                        decodeURIComponent(value);
                    } catch {
                        return { kind: 'bad-escape', path };
                    }
                }
            }
            if (serves(layer, method)) {
                // The first route serving the method answers, as in Express: ours, or someone else's.
                const route = mine.find((r) => r.method === method || (method === 'head' && r.method === 'get'));
                return route ? { kind: 'guarded', route, path } : null;
            }
            for (const [name, on] of Object.entries(layer.route.methods)) if (on && name !== '_all') allow.add(name.toUpperCase());
        }
        return ours ? { kind: 'method-not-served', allow: [...allow], path } : null;
    }

    private refuse(req: IncomingMessage, res: ServerResponse, route: GuardedRoute, path: string, error: BoatDataError): void {
        for (const guard of route.guards) guard.refused(req.method ?? '', path, error);
        answerJson(req, res, error.statusCode, error.message, error.code);
    }

    private readonly guardRequest = (req: Request, res: ServerResponse, next: Next): void => {
        let match: Match | null;
        try {
            match = this.match(req);
        } catch {
            match = null;
        }
        if (!match) return next();
        if (match.kind === 'bad-escape') {
            return answerJson(req, res, 400, 'the address has a broken %-escape; encode names with encodeURIComponent', 'PATH_INVALID');
        }
        if (match.kind === 'method-not-served') {
            const allow = match.allow.join(', ');
            return answerJson(req, res, 405, `${match.path} does not take ${req.method}; use ${allow || 'another method'}`, 'METHOD_NOT_ALLOWED', { Allow: allow });
        }
        const { route, path } = match;
        const host = req.headers.host;
        if (!route.guards.some((guard) => guard.allowsHost(host))) return this.refuse(req, res, route, path, route.guards[0].hostRefusal(host));
        if (route.guards.some((guard) => guard.helmOnly) && !fromHelm(req.socket?.remoteAddress, req.headers)) {
            return this.refuse(req, res, route, path, new BoatDataError('HELM_ONLY', `${path} answers only at the helm, on the boat's own screen, not from another device on the network`, 403));
        }
        const announced = announcedTooLarge(req.headers, this.limits.maxBytes);
        if (announced) return this.refuse(req, res, route, path, announced);
        // Boat answers carry keys, backups and the boat's state: no browser or proxy keeps a copy.
        res.setHeader('Cache-Control', 'no-store');
        readCappedBody(req, this.limits).then(
            (body) => {
                req.body = body;
                req._body = true;
                req.skipRawBodyParser = true;
                req.d3kosBodyRead = true;
                try {
                    next();
                } catch (err) {
                    this.failed(req, res, err);
                }
            },
            (err: BoatDataError) => {
                if (err.code === 'BODY_ABORTED') req.destroy();
                else this.refuse(req, res, route, path, err);
            },
        );
    };

    /**
     * Node-RED's raw-body capture (for an http-in with "Do not parse the body" ticked) reads the body again and
     * fails, the stream being read already: the body is in req.body, so carry on.
     */
    private readonly resumeAfterCapture = (err: { type?: string }, req: Request, _res: ServerResponse, next: Next): void => {
        if (req.d3kosBodyRead && err?.type === 'stream.not.readable') next();
        else next(err);
    };

    /** Whatever fails on a guarded route's way is answered as JSON, without a stack trace or a path. */
    private readonly answerErrors = (err: unknown, req: Request, res: ServerResponse, next: Next): void => {
        let match: Match | null = null;
        try {
            match = this.match(req);
        } catch {
            match = null;
        }
        if (!match) return next(err);
        this.failed(req, res, err);
    };

    private failed(req: IncomingMessage, res: ServerResponse, err: unknown): void {
        answerFailure(req, res, err, (line) => this.RED.log.warn(line));
    }

    private install(): void {
        const root = this.root;
        root.use(this.guardRequest);
        root.use(this.resumeAfterCapture);
        root.use(this.answerErrors);
        const stack = root._router!.stack;
        const take = (handle: unknown) =>
            stack.splice(
                stack.findIndex((layer) => layer.handle === handle),
                1,
            )[0];
        const guard = take(this.guardRequest);
        const resume = take(this.resumeAfterCapture);
        // First in line, before Node-RED's raw-body capture; the resume right after that capture.
        stack.unshift(guard);
        let capture = -1;
        stack.forEach((layer, i) => (capture = layer.name === 'rawBodyCapture' ? i : capture));
        stack.splice(capture >= 0 ? capture + 1 : 1, 0, resume);
        this.RED.events.on('flows:started', this.onFlowsStarted);
    }

    private uninstall(): void {
        const stack = this.root._router?.stack ?? [];
        for (let i = stack.length - 1; i >= 0; i--) {
            if ([this.guardRequest, this.resumeAfterCapture, this.answerErrors].includes(stack[i].handle as never)) stack.splice(i, 1);
        }
        this.RED.events.removeListener('flows:started', this.onFlowsStarted);
    }
}

/** An error on the way, answered as JSON without a stack trace or a path; the Node-RED log says what it was. */
export function answerFailure(req: IncomingMessage, res: ServerResponse, err: unknown, warn: (line: string) => void): void {
    const status = Number((err as { status?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode);
    const client = Number.isInteger(status) && status >= 400 && status < 500;
    warn(`d3kOS request guard: ${req.method} ${pathnameOf(req.url)} failed: ${errorMessage(err)}`);
    answerJson(
        req,
        res,
        client ? status : 500,
        client ? 'the request could not be read' : "the boat's data service failed on this request; the Node-RED log says why",
        client ? 'REQUEST_INVALID' : 'REQUEST_FAILED',
    );
}

const byRoot = new WeakMap<object, BoatRoutes>();

function rootOf(app: ExpressApp): ExpressApp {
    return app.parent ? rootOf(app.parent) : app;
}

/** Puts a guard's routes behind the shared middleware; the returned function takes them off again (on close). */
export function guardRoutes(RED: NodeAPI, guard: RouteGuard, limits: BodyLimits = BODY_LIMITS): () => void {
    const app = RED.httpNode as unknown as ExpressApp | undefined;
    if (!app || typeof app.use !== 'function') return () => {};
    const root = rootOf(app);
    let routes = byRoot.get(root);
    if (!routes) {
        routes = new BoatRoutes(RED, root, limits);
        byRoot.set(root, routes);
    }
    routes.add(guard);
    const registered = routes;
    return () => {
        registered.remove(guard.id);
        if (registered.empty) byRoot.delete(root);
    };
}
