import type { Node, NodeAPI, NodeMessage } from 'node-red';
import type { BoatConfigNode } from './boat-config';
import { BoatDataError, errorMessage } from '../../lib/errors';
import { publicMessage } from '../../lib/http/public-message';

/** The boat configuration a node points at, or a clear error when the installer left it unset. */
export function boatConfig(RED: NodeAPI, node: Node, configId: string | undefined): BoatConfigNode {
    const config = configId ? (RED.nodes.getNode(configId) as BoatConfigNode | null) : null;
    if (!config) {
        throw new BoatDataError('CONFIG_MISSING', `${node.type} has no d3kOS boat configuration selected; open the node and choose one`);
    }
    return config;
}

/** A short status: green dot for done, blue ring while working, yellow for a warning, red for an error. */
export const status = {
    working: (node: Node, text: string) => node.status({ fill: 'blue', shape: 'ring', text }),
    ok: (node: Node, text: string) => node.status({ fill: 'green', shape: 'dot', text }),
    warn: (node: Node, text: string) => node.status({ fill: 'yellow', shape: 'ring', text }),
    error: (node: Node, err: unknown) => node.status({ fill: 'red', shape: 'ring', text: shorten(errorMessage(err)) }),
    clear: (node: Node) => node.status({}),
};

function shorten(text: string, max = 60): string {
    return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
export type Done = (err?: Error) => void;

/**
 * Runs one message's work: errors reach done(err) so Catch nodes see them,
 * and carry statusCode/code on the message for flows that answer HTTP.
 *
 * Nothing thrown while handling a message may reach the process (it also runs
 * the helm): not the work, not send(), not done() itself, which clones the
 * message for a Catch node and can throw on a message it cannot clone. What
 * cannot go to done() is logged, and an HTTP request still gets a JSON answer.
 */
export function handleInput(node: Node, work: (msg: NodeMessage & Record<string, any>, send: Send) => Promise<void>): void {
    node.on('input', (msg: NodeMessage & Record<string, any>, send: Send, done: Done) => {
        const failed = (err: unknown) => {
            const error = err instanceof Error ? err : new Error(String(err));
            try {
                status.error(node, error);
                if (error instanceof BoatDataError) {
                    msg.statusCode = error.statusCode;
                    msg.error_code = error.code;
                }
                done(error);
            } catch (unreported) {
                node.error(`${errorMessage(error)} (and it could not be passed on: ${errorMessage(unreported)})`);
                answerAfterAll(msg, error);
            }
        };
        let running: Promise<void>;
        try {
            running = work(msg, send);
        } catch (err) {
            failed(err);
            return;
        }
        running.then(() => {
            try {
                done();
            } catch (err) {
                failed(err);
            }
        }, failed);
    });
}

/** The JSON answer an HTTP request gets when its error could not travel the flow to an http response node. */
function answerAfterAll(msg: Record<string, any>, error: Error): void {
    const res = msg.res?._res;
    if (!res || typeof res.status !== 'function' || res.headersSent) return;
    const known = error instanceof BoatDataError;
    const statusCode = known && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    try {
        res.status(statusCode).json({
            success: false,
            error: known ? publicMessage(error.message) : "the boat's data service failed on this request; the Node-RED log says why",
            code: known ? error.code : undefined,
        });
    } catch {
        // The connection is gone: nothing left to answer.
    }
}

/** The work a node has under way, so close() can let it finish rather than cut a restore or a download in half. */
export class WorkInFlight {
    private readonly pending = new Set<Promise<unknown>>();

    track<T>(work: Promise<T>): Promise<T> {
        this.pending.add(work);
        const forget = () => this.pending.delete(work);
        work.then(forget, forget);
        return work;
    }

    /**
     * Settles when everything tracked has settled, however it ended, and so has
     * the work it led to (a message that waited for the node's start, then began).
     */
    async settled(): Promise<void> {
        while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    }
}
