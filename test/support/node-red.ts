import helper from 'node-red-node-test-helper';

helper.init(require.resolve('node-red'));

export { helper };

/** Waits for the next message a helper node receives, or fails after `ms`. */
export function nextMessage(node: any, ms = 10000): Promise<any> {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message reached ${node.id} within ${ms} ms`)), ms);
        node.once('input', (msg: any) => {
            clearTimeout(timer);
            resolve(msg);
        });
    });
}

/** Waits for the error a node reports through done(err). */
export function nextError(node: any, ms = 10000): Promise<Error> {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${node.id} reported no error within ${ms} ms`)), ms);
        node.on('call:error', (call: any) => {
            clearTimeout(timer);
            resolve(call.args[0] instanceof Error ? call.args[0] : new Error(String(call.args[0])));
        });
    });
}
