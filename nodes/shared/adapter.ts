import type { Node, NodeAPI, NodeMessage } from 'node-red';
import type { BoatConfigNode } from './boat-config';
import { BoatDataError, errorMessage } from '../../lib/errors';

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
 */
export function handleInput(
    node: Node,
    work: (msg: NodeMessage & Record<string, any>, send: Send) => Promise<void>,
): void {
    node.on('input', (msg: NodeMessage & Record<string, any>, send: Send, done: Done) => {
        work(msg, send).then(
            () => done(),
            (err: unknown) => {
                status.error(node, err);
                const error = err instanceof Error ? err : new Error(String(err));
                if (error instanceof BoatDataError) {
                    msg.statusCode = error.statusCode;
                    msg.error_code = error.code;
                }
                done(error);
            },
        );
    });
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

    /** Settles when everything tracked so far has settled, however it ended. */
    async settled(): Promise<void> {
        await Promise.allSettled([...this.pending]);
    }
}
