import type { Node, NodeAPI, NodeDef } from 'node-red';
import { handleInput, status } from '../shared/adapter';
import { checkRequest } from '../../lib/http/request-guard';
import { withoutCors } from '../../lib/http/cors';
import { BodyShape, parseBodyShape } from '../../lib/http/body-shape';
import { ALLOWED_HOSTS_ENV, BoatHosts, parseHostList } from '../../lib/http/boat-hosts';
import { BoatDataError, errorMessage } from '../../lib/errors';
import { guardRoutes } from './boat-routes';
import { gateEditor } from './editor-gate';

interface RequestGuardDef extends NodeDef {
    /** Other origins allowed to change data, comma or space separated. */
    allowedOrigins: string;
    /** Names of the boat besides loopback, its hostname and its addresses, comma or space separated. */
    allowedHosts?: string;
    /** The fields a body may hold, e.g. `mode?: full|incremental`; empty: none. */
    body?: string;
    /** Answer only requests made on the boat's own computer, never another device on its network. */
    helmOnly?: boolean;
}

const WARN_EVERY_MS = 10000;

export = function (RED: NodeAPI): void {
    const editor = gateEditor(RED);

    function RequestGuard(this: Node, def: RequestGuardDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const allowedOrigins = (def.allowedOrigins || '').split(/[\s,]+/).filter(Boolean);
        let refusedCount = 0;

        // A setting that cannot be read refuses every request rather than let bodies through unchecked.
        let setup: BoatDataError | null = null;
        let shape: BodyShape = parseBodyShape('');
        let listed: string[] = [];
        try {
            shape = parseBodyShape(def.body);
            listed = [...parseHostList(def.allowedHosts, "the request guard's allowed names"), ...parseHostList(process.env[ALLOWED_HOSTS_ENV], ALLOWED_HOSTS_ENV)];
        } catch (err) {
            setup = err as BoatDataError;
            node.error(errorMessage(err));
            status.error(node, err);
        }
        const boatHosts = new BoatHosts(listed);

        // A flood of refusals must not become a flood of log lines: one warning per 10 s, the rest counted.
        let warnedAt = -Infinity;
        let unwarned = 0;
        const refused = (method: string, path: string, error: string) => {
            refusedCount++;
            status.warn(node, RED._('request-guard.status.refused', { count: refusedCount, method, path }));
            if (Date.now() - warnedAt < WARN_EVERY_MS) {
                unwarned++;
                return;
            }
            node.warn(unwarned > 0 ? `${method} ${path}: ${error} (and ${unwarned} more refused since the last warning)` : `${method} ${path}: ${error}`);
            warnedAt = Date.now();
            unwarned = 0;
        };

        const unguard = guardRoutes(RED, {
            id: node.id,
            allowsHost: (host) => setup === null && boatHosts.allows(host),
            hostRefusal: (host) => setup ?? boatHosts.refusal(host),
            helmOnly: def.helmOnly === true,
            refused: (method, path, error) => refused(method, path, error.message),
        });
        const forgetNames = editor.addNames({ allowsHost: (host) => setup === null && boatHosts.allows(host), allowedOrigins });
        node.on('close', (done: () => void) => {
            forgetNames();
            unguard();
            done();
        });

        handleInput(node, async (msg, send) => {
            const req = msg.req;
            if (!req || typeof req.method !== 'string' || typeof req.headers !== 'object') {
                throw new BoatDataError('NOT_AN_HTTP_REQUEST', 'the request guard takes messages from an http in node (msg.req is missing)', 500);
            }
            if (setup) throw setup;
            // res.jsonp would wrap our JSON in a script any page may load and read: never answer JSONP.
            if (req.query && typeof req.query === 'object') delete req.query.callback;
            // Nor let any other site read the answer through CORS.
            const res = msg.res?._res;
            if (res && typeof res.getHeaderNames === 'function') withoutCors(res);

            const verdict = checkRequest({ method: req.method, headers: req.headers, body: msg.payload }, { allowedOrigins, shape, boatHosts });
            if (verdict.allowed) {
                if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method.toUpperCase())) msg.payload = verdict.body;
                send([msg, null]);
                return;
            }
            refused(req.method, req.path ?? '', verdict.error);
            msg.statusCode = verdict.statusCode;
            msg.payload = { success: false, error: verdict.error };
            send([null, msg]);
        });
    }

    RED.nodes.registerType('d3kos-request-guard', RequestGuard);
};
