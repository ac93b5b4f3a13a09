import type { Node, NodeMessage } from 'node-red';
import { BoatDataError, errorMessage } from '../../lib/errors';

/**
 * An error no incoming message carries (a setting that cannot be read, a schedule that cannot start, the
 * queue's background work) reported so a Catch node sees it: Node-RED hands node.error to Catch nodes only
 * with a message, and only once the flow has listed its Catch nodes, which it does after creating every
 * node; so the report waits one turn of the event loop.
 */
export function reportToCatch(node: Node, err: unknown, topic: string): void {
    const error = err instanceof Error ? err : new Error(errorMessage(err));
    const msg: NodeMessage & Record<string, unknown> = { topic, payload: { success: false, error: errorMessage(err) } };
    if (err instanceof BoatDataError) {
        msg.statusCode = err.statusCode;
        msg.error_code = err.code;
    }
    setImmediate(() => node.error(error, msg));
}
