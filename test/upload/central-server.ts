import * as http from 'http';
import type { AddressInfo } from 'net';
import { brotliDecompressSync, gunzipSync } from 'zlib';

export interface ReceivedUpload {
    headers: http.IncomingHttpHeaders;
    /** The body as the boat meant it: decoded when it came gzip- or br-encoded. */
    body: Buffer;
    wireBytes: number;
}

export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | 'drop-mid-body' | 'never-answer';

/**
 * A real HTTP server on 127.0.0.1 standing in for the central API: it takes
 * uploads, remembers what arrived, and answers as each test tells it to.
 */
export class FakeCentral {
    readonly uploads: ReceivedUpload[] = [];
    healthChecks = 0;
    answer: (upload: ReceivedUpload, n: number) => Answer = () => ({ status: 200, body: { status: 'success', import_id: 'imp-1', records_imported: 3 } });
    health: () => { status: number; body: string } = () => ({ status: 200, body: '{"status":"ok"}' });
    private readonly server: http.Server;

    constructor() {
        this.server = http.createServer((req, res) => this.handle(req, res));
    }

    static async start(): Promise<FakeCentral> {
        const central = new FakeCentral();
        await new Promise<void>((resolve) => central.server.listen(0, '127.0.0.1', resolve));
        return central;
    }

    get url(): string {
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    async close(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise((resolve) => this.server.close(resolve));
    }

    private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
        if (req.method === 'GET' && req.url === '/api/v1/health') {
            this.healthChecks++;
            const { status, body } = this.health();
            res.writeHead(status, { 'Content-Type': body.startsWith('{') ? 'application/json' : 'text/html' }).end(body);
            return;
        }
        if (req.method !== 'POST' || req.url !== '/api/v1/data/import') {
            res.writeHead(404).end();
            return;
        }
        const n = this.uploads.length;
        const chunks: Buffer[] = [];
        let decided = false;
        req.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            if (!decided && this.answerFor(req, chunks, n) === 'drop-mid-body') {
                decided = true;
                req.socket.destroy();
            }
        });
        req.on('end', () => {
            if (decided) return;
            const upload = this.record(req, chunks);
            const answer = this.answer(upload, n);
            if (answer === 'never-answer' || answer === 'drop-mid-body') return;
            const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
            res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers }).end(text);
        });
    }

    /** Only "drop" needs deciding before the body is in; it is asked with what has arrived so far. */
    private answerFor(req: http.IncomingMessage, chunks: Buffer[], n: number): Answer | null {
        const wireBytes = chunks.reduce((sum, c) => sum + c.length, 0);
        const answer = this.answer({ headers: req.headers, body: Buffer.alloc(0), wireBytes }, n);
        return answer === 'drop-mid-body' ? answer : null;
    }

    private record(req: http.IncomingMessage, chunks: Buffer[]): ReceivedUpload {
        const raw = Buffer.concat(chunks);
        const encoding = req.headers['content-encoding'];
        const body = encoding === 'gzip' ? gunzipSync(raw) : encoding === 'br' ? brotliDecompressSync(raw) : raw;
        const upload = { headers: req.headers, body, wireBytes: raw.length };
        this.uploads.push(upload);
        return upload;
    }
}

/** A port on 127.0.0.1 that nothing listens on: connection refused, as at sea. */
export async function closedPortUrl(): Promise<string> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return `http://127.0.0.1:${port}`;
}
