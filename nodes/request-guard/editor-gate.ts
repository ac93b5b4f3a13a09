import type { IncomingMessage, Server, ServerResponse } from 'http';
import type { Socket } from 'net';
import type { NodeAPI } from 'node-red';
import { ALLOWED_HOSTS_ENV, BoatHosts, isLoopback, parseHostList } from '../../lib/http/boat-hosts';
import { ConnectionCap, connectionLimits } from '../../lib/http/connection-cap';
import { checkEditorRequest, EDITOR_PATHS, EditorRules } from '../../lib/http/editor-rules';
import { watchOpenEditor } from '../../lib/http/open-editor';
import { BoatDataError } from '../../lib/errors';
import { answerFailure, answerJson } from './boat-routes';

/**
 * What the package puts in front of Node-RED's own web server, once per
 * process, whether or not a flow holds a request guard: the editor rules
 * (lib/http/editor-rules.ts) while Node-RED has no adminAuth, on the admin API,
 * the editor's files and its websocket; a cap on open connections
 * (lib/http/connection-cap.ts); and JSON instead of Express's HTML error page
 * (with its stack trace and paths) for whatever fails on the way.
 */
export interface BoatNames {
    allowsHost(host: string | undefined): boolean;
    allowedOrigins: string[];
}

export interface EditorGate {
    /** A guard's names (its allowed hosts and origins) count for the editor too, until the returned function is called. */
    addNames(names: BoatNames): () => void;
}

interface Layer {
    handle?: unknown;
    name?: string;
    regexp?: RegExp;
    route?: unknown;
}

interface App {
    path(): string;
    use(handler: unknown): void;
    parent?: App;
    _router?: { stack: Layer[] };
}

type Next = (err?: unknown) => void;

const WARN_EVERY_MS = 10000;
const gates = new WeakMap<object, EditorGate>();
const servers = new WeakSet<Server>();

/** Whether an Express router stack (nested routers included; a mounted app hides its own) has a route for `path`. */
function routed(stack: Layer[], path: string, depth = 0): boolean {
    for (const layer of stack) {
        const found = layer.regexp?.exec(path);
        if (!found) continue;
        if (layer.route) return true;
        const handle = layer.handle as { _router?: { stack?: Layer[] }; stack?: Layer[] } | undefined;
        const inner = handle?._router?.stack ?? handle?.stack;
        if (Array.isArray(inner) && depth < 4) {
            const rest = path.slice(found[0].length);
            if (routed(inner, rest.startsWith('/') ? rest : '/' + rest, depth + 1)) return true;
        }
    }
    return false;
}

/** Anyone on the network can cause these lines: one per 10 s, the rest counted. */
function throttledWarn(RED: NodeAPI): (line: string) => void {
    let warnedAt = -Infinity;
    let unwarned = 0;
    return (line) => {
        if (Date.now() - warnedAt < WARN_EVERY_MS) {
            unwarned++;
            return;
        }
        RED.log.warn(unwarned > 0 ? `${line} (and ${unwarned} more since the last warning)` : line);
        warnedAt = Date.now();
        unwarned = 0;
    };
}

function pathname(url: string | undefined): string {
    return (url ?? '/').split(/[?#]/)[0] || '/';
}

function listensBeyondLoopback(server: Server | undefined): boolean {
    const address = server?.address();
    if (!address || typeof address === 'string') return false;
    return !isLoopback(address.address.toLowerCase());
}

export function gateEditor(RED: NodeAPI): EditorGate {
    // Nodes see Node-RED's runtime admin app, which the editor's own app (the one on the web server) mounts last.
    let admin = RED.httpAdmin as unknown as App | undefined;
    while (admin?.parent?.parent) admin = admin.parent;
    if (!admin || typeof admin.use !== 'function' || !admin._router) return { addNames: () => () => {} };
    const known = gates.get(admin);
    if (known) return known;

    const names = new Set<BoatNames>();
    let listed: string[] = [];
    try {
        listed = parseHostList(process.env[ALLOWED_HOSTS_ENV], ALLOWED_HOSTS_ENV);
    } catch {
        // The request guards report a list they cannot read; the editor goes by the boat's own names meanwhile.
    }
    const boatHosts = new BoatHosts(listed);
    const rules: EditorRules = {
        allowsHost: (host) => boatHosts.allows(host) || [...names].some((n) => n.allowsHost(host)),
        hostRefusal: (host) => boatHosts.refusal(host),
        get allowedOrigins() {
            return [...names].flatMap((n) => n.allowedOrigins);
        },
    };
    const passwordless = () => !(RED.settings as unknown as { adminAuth?: unknown }).adminAuth;
    const server = (RED as unknown as { server?: Server }).server;

    const warn = throttledWarn(RED);
    const warnRefused = (method: string, path: string, error: BoatDataError) => warn(`d3kOS request guard: editor ${method} ${path} refused: ${error.message}`);

    const nodesAdmin = RED.httpAdmin as unknown as App;
    const isEditorPath = (path: string) => EDITOR_PATHS.test(path) || routed(nodesAdmin._router?.stack ?? [], path);

    const editorGate = (req: IncomingMessage, res: ServerResponse, next: Next): void => {
        if (!passwordless()) return next();
        const path = pathname(req.url);
        if (!isEditorPath(path)) return next();
        const refusal = checkEditorRequest({ method: req.method ?? 'GET', headers: req.headers }, rules);
        if (refusal) {
            warnRefused(req.method ?? '', path, refusal);
            return answerJson(req, res, refusal.statusCode, refusal.message, refusal.code);
        }
        // Node-RED's admin app allows every origin (CORS *): no other site may read the editor's answers.
        const setHeader = res.setHeader.bind(res);
        res.setHeader = ((name: string, value: number | string | readonly string[]) =>
            name.toLowerCase().startsWith('access-control-') ? res : setHeader(name, value)) as ServerResponse['setHeader'];
        next();
    };
    admin.use(editorGate);
    const stack = admin._router.stack;
    stack.unshift(
        ...stack.splice(
            stack.findIndex((layer) => layer.handle === editorGate),
            1,
        ),
    );

    // Once per server: a test harness loads the node again with a new admin app on the same server.
    if (server && typeof server.on === 'function' && !servers.has(server)) {
        servers.add(server);
        gateWebsocket(server, admin, passwordless, rules, warnRefused);
        capConnections(server);
    }
    if (admin.parent) answerErrorsAsJson(RED, admin);

    watchOpenEditor(() => passwordless() && listensBeyondLoopback(server));
    if (passwordless()) {
        RED.log.warn(
            "d3kOS: The Node-RED editor has no password (adminAuth is not set in settings.js): whoever reaches it can change the flows and run programs on the boat. Until it has one, the d3kOS request guard lets only the editor's own pages on this boat use it; see docs/security-editor.md.",
        );
    }

    const gate: EditorGate = {
        addNames(guardNames) {
            names.add(guardNames);
            return () => names.delete(guardNames);
        },
    };
    gates.set(admin, gate);
    return gate;
}

/** The editor's websocket (`<admin root>comms`) is upgraded only for the editor's own pages; other upgrades go on as before. */
function gateWebsocket(server: Server, admin: App, passwordless: () => boolean, rules: EditorRules, warnRefused: (m: string, p: string, e: BoatDataError) => void): void {
    const commsPath = admin.path().replace(/\/?$/, '/') + 'comms';
    const emit = server.emit;
    // Ahead of every 'upgrade' listener (Node-RED's comms adds its own when the editor starts): wrapping emit is the one place.
    server.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
        if (event === 'upgrade' && passwordless()) {
            const [req, socket] = args as [IncomingMessage, Socket];
            if (pathname(req.url) === commsPath) {
                const refusal = checkEditorRequest({ method: 'GET', headers: req.headers }, rules);
                if (refusal) {
                    warnRefused('upgrade', commsPath, refusal);
                    const body = JSON.stringify({ success: false, error: refusal.message, code: refusal.code });
                    socket.end(
                        `HTTP/1.1 ${refusal.statusCode} Forbidden\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
                    );
                    return true;
                }
            }
        }
        return (emit as (...a: unknown[]) => boolean).apply(this, [event, ...args]);
    } as Server['emit'];
}

/** Connections over the cap are closed as they arrive, before Node's HTTP parser holds them. */
function capConnections(server: Server): void {
    const cap = new ConnectionCap(connectionLimits());
    server.prependListener('connection', (socket: Socket) => {
        const address = socket.remoteAddress;
        if (!cap.admit(address)) {
            socket.destroy();
            return;
        }
        socket.once('close', () => cap.release(address));
    });
}

/**
 * An error-handling middleware at the end of Node-RED's root app: a broken %-escape under /dashboard, an unrouted
 * body too large for the admin API's parser. It is moved back to the end after each deploy, behind the request
 * guards' own handler.
 */
function answerErrorsAsJson(RED: NodeAPI, admin: App): void {
    let root = admin;
    while (root.parent) root = root.parent;
    const warn = throttledWarn(RED);
    const answerAsJson = (err: unknown, req: IncomingMessage, res: ServerResponse, _next: Next): void => answerFailure(req, res, err, warn);
    root.use(answerAsJson);
    RED.events.on('flows:started', () => {
        const stack = root._router?.stack ?? [];
        const at = stack.findIndex((layer) => layer.handle === answerAsJson);
        if (at >= 0 && at !== stack.length - 1) stack.push(...stack.splice(at, 1));
    });
}
