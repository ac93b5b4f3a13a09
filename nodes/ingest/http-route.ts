import type { IncomingMessage, ServerResponse } from 'http';
import type { NodeAPI } from 'node-red';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type Middleware = (req: IncomingMessage & { _body?: boolean; originalUrl?: string }, res: ServerResponse, next: () => void) => void;

interface RouterLayer {
    handle?: unknown;
    route?: { path: string; methods: Record<string, boolean>; stack: Array<{ handle: unknown }> };
}

interface ExpressApp {
    post(path: string, ...handlers: unknown[]): void;
    use(handler: Middleware): void;
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
