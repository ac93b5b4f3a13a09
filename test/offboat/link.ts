import * as net from 'net';

/**
 * A boat's unreliable link, as a real TCP proxy on loopback: every byte the
 * boat puts on it towards the central side is counted, and each connection
 * is cut after `dropEvery` bytes (the rest of that chunk is lost), as a
 * mobile link dropping mid-upload does.
 */
export interface FlakyLink {
    port: number;
    /** Bytes the boat put on the wire towards the central side, over every connection. */
    bytesUp(): number;
    drops(): number;
    setDropEvery(bytes: number): void;
    close(): Promise<void>;
}

export async function flakyLink(targetPort: number, dropEvery: number): Promise<FlakyLink> {
    let up = 0;
    let drops = 0;
    let every = dropEvery;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
        const upstream = net.connect(targetPort, '127.0.0.1');
        sockets.add(client);
        sockets.add(upstream);
        let sinceConnect = 0;
        let dropped = false;
        client.on('data', (chunk: Buffer) => {
            if (dropped) return;
            // Every byte the boat got onto the link counts, including those lost with it.
            up += chunk.length;
            if (every > 0 && sinceConnect + chunk.length > every) {
                // Part of the chunk crosses, then the link goes: the boat's side is reset, and the
                // central side sees its connection end after the bytes that crossed (as a server does
                // when a mobile link dies and the TCP session finally closes).
                dropped = true;
                drops++;
                upstream.end(chunk.subarray(0, every - sinceConnect));
                client.resetAndDestroy();
                return;
            }
            sinceConnect += chunk.length;
            upstream.write(chunk);
        });
        upstream.on('data', (chunk: Buffer) => client.write(chunk));
        for (const s of [client, upstream]) {
            s.on('error', () => undefined);
            s.on('close', () => {
                sockets.delete(s);
                if (s === client && !dropped) upstream.end();
                if (s === upstream) client.destroy();
            });
        }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        bytesUp: () => up,
        drops: () => drops,
        setDropEvery: (bytes) => {
            every = bytes;
        },
        close: () =>
            new Promise<void>((resolve) => {
                for (const s of sockets) s.destroy();
                server.close(() => resolve());
            }),
    };
}
