import type { Node, NodeAPI, NodeDef } from 'node-red';
import { handleInput, status } from '../shared/adapter';
import { checkRequest, CORS_HEADERS } from '../../lib/http/request-guard';
import { BoatDataError } from '../../lib/errors';

interface RequestGuardDef extends NodeDef {
    /** Other origins allowed to change data, comma or space separated. */
    allowedOrigins: string;
}

export = function (RED: NodeAPI): void {
    function RequestGuard(this: Node, def: RequestGuardDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        const allowedOrigins = (def.allowedOrigins || '').split(/[\s,]+/).filter(Boolean);
        let refusedCount = 0;

        handleInput(node, async (msg, send) => {
            const req = msg.req;
            if (!req || typeof req.method !== 'string' || typeof req.headers !== 'object') {
                throw new BoatDataError('NOT_AN_HTTP_REQUEST', 'the request guard takes messages from an http in node (msg.req is missing)', 500);
            }
            // res.jsonp would wrap our JSON in a script any page may load and read: never answer JSONP.
            if (req.query && typeof req.query === 'object') delete req.query.callback;
            // Nor let any other site read the answer through CORS.
            const res = msg.res?._res;
            if (res && typeof res.removeHeader === 'function' && !res.headersSent) for (const name of CORS_HEADERS) res.removeHeader(name);

            const verdict = checkRequest({ method: req.method, headers: req.headers, body: msg.payload }, { allowedOrigins });
            if (verdict.allowed) {
                if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method.toUpperCase())) msg.payload = verdict.body;
                send([msg, null]);
                return;
            }
            refusedCount++;
            status.warn(node, RED._('request-guard.status.refused', { count: refusedCount, method: req.method, path: req.path ?? '' }));
            node.warn(verdict.error);
            msg.statusCode = verdict.statusCode;
            msg.payload = { success: false, error: verdict.error };
            send([null, msg]);
        });
    }

    RED.nodes.registerType('d3kos-request-guard', RequestGuard);
};
