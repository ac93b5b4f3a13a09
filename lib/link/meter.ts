import * as http from 'http';
import * as https from 'https';
import type { Duplex } from 'stream';

/**
 * Counts the bytes of every socket our HTTP clients open (axios for uploads
 * and health checks, tus-js-client for off-boat copies): bodies, headers and
 * TLS alike, as the link carries them. A socket's bytes are taken when it
 * closes, and on `settle()` for those still open.
 */
export class SocketMeter {
    readonly httpAgent: http.Agent;
    readonly httpsAgent: https.Agent;
    private readonly open = new Map<Duplex & { bytesWritten?: number; bytesRead?: number }, number>();

    constructor(private readonly add: (bytes: number) => void) {
        const meter = this;
        // keepAlive off: a socket closes after its answer, so its bytes are counted at once.
        class CountedHttpAgent extends http.Agent {
            override createConnection(...args: Parameters<http.Agent['createConnection']>): Duplex | null | undefined {
                return meter.watch(super.createConnection(...args));
            }
        }
        class CountedHttpsAgent extends https.Agent {
            override createConnection(...args: Parameters<http.Agent['createConnection']>): Duplex | null | undefined {
                return meter.watch(super.createConnection(...args));
            }
        }
        this.httpAgent = new CountedHttpAgent({ keepAlive: false });
        this.httpsAgent = new CountedHttpsAgent({ keepAlive: false });
    }

    /** Takes what the open sockets have carried so far. */
    settle(): void {
        for (const socket of this.open.keys()) this.take(socket);
    }

    private watch(socket: Duplex | null | undefined): Duplex | null | undefined {
        if (!socket) return socket;
        this.open.set(socket, 0);
        socket.once('close', () => {
            this.take(socket);
            this.open.delete(socket);
        });
        return socket;
    }

    private take(socket: Duplex & { bytesWritten?: number; bytesRead?: number }): void {
        const total = (socket.bytesWritten ?? 0) + (socket.bytesRead ?? 0);
        const counted = this.open.get(socket) ?? 0;
        if (total > counted) {
            this.open.set(socket, total);
            this.add(total - counted);
        }
    }
}
