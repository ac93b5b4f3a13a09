import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { DemoBoat } from '../../tools/demo-boat';
import { RunningNodeRed } from '../../tools/node-red-runtime';
import { demoBoat, FlowNode, startBoat } from '../e2e/harness';

// The boat's Node-RED (flows/boat.json on a demo boat) as someone on the boat's Wi-Fi meets it: raw HTTP with
// any header, any body, sent as slowly or as long as they like. Needs `npm run build`.

/** Timers off, so nothing changes the boat's data but the requests a test sends. */
function quiet(flow: FlowNode[]): void {
    for (const node of flow) {
        if (node.type === 'inject') {
            node.once = false;
            node.repeat = '';
        }
        if (node.type === 'd3kos-schedule') node.catchUp = false;
    }
}

export async function startHostileBoat(dir: string, env: Record<string, string> = {}): Promise<{ boat: DemoBoat; nodeRed: RunningNodeRed }> {
    const boat = await demoBoat(dir);
    const nodeRed = await startBoat(dir, boat, { centralUrl: '', env: { D3KOS_QUEUE_POLL_S: '3600', ...env }, tweak: quiet });
    return { boat, nodeRed };
}

export interface Sent {
    method?: string;
    path: string;
    headers?: Record<string, string | number>;
    body?: Buffer | string;
    /** The Host header; the boat's loopback address unless told otherwise. */
    host?: string;
}

export interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    text: string;
    json: any;
}

/** One request exactly as given (Host included), answered or failed. */
export function send(nodeRed: Pick<RunningNodeRed, 'port'>, request: Sent, timeoutMs = 20000): Promise<Reply> {
    return new Promise((resolve, reject) => {
        const headers: Record<string, string | number> = { Host: request.host ?? `127.0.0.1:${nodeRed.port}`, ...request.headers };
        if (request.body !== undefined && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) {
            headers['Content-Length'] = Buffer.byteLength(request.body);
        }
        const req = http.request({ host: '127.0.0.1', port: nodeRed.port, method: request.method ?? 'GET', path: request.path, headers, agent: false, setHost: false });
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.on('response', (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', reject);
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json: any;
                try {
                    json = JSON.parse(text);
                } catch {
                    json = undefined;
                }
                resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
            });
        });
        req.end(request.body);
    });
}

export interface StreamOutcome {
    /** The answer, when one came before the connection closed. */
    status?: number;
    text?: string;
    /** Body bytes the socket took before the boat closed it. */
    written: number;
    /** The connection ended with an error (reset, broken pipe) rather than an answer. */
    error?: string;
}

/**
 * Streams a body of `totalBytes` (generated chunk by chunk, never held whole) until the boat answers or closes
 * the connection. `chunked`: no Content-Length; otherwise `announce` bytes (default totalBytes) are announced.
 * `headersFirstMs`: wait that long after the headers before sending the body, as curl does for a large upload.
 */
export function streamBody(
    nodeRed: RunningNodeRed,
    urlPath: string,
    options: { totalBytes: number; chunked?: boolean; announce?: number; chunkBytes?: number; pauseMs?: number; host?: string; headersFirstMs?: number },
): Promise<StreamOutcome> {
    return new Promise((resolve) => {
        const headers: Record<string, string | number> = { Host: options.host ?? `127.0.0.1:${nodeRed.port}`, 'Content-Type': 'application/json' };
        if (options.chunked) headers['Transfer-Encoding'] = 'chunked';
        else headers['Content-Length'] = options.announce ?? options.totalBytes;
        const req = http.request({ host: '127.0.0.1', port: nodeRed.port, method: 'POST', path: urlPath, headers, agent: false, setHost: false });
        const chunk = Buffer.alloc(options.chunkBytes ?? 64 * 1024, '[');
        const outcome: StreamOutcome = { written: 0 };
        let settled = false;
        const settle = () => {
            if (settled) return;
            settled = true;
            req.destroy();
            resolve(outcome);
        };
        req.on('response', (res) => {
            outcome.status = res.statusCode;
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (part) => (text += part));
            res.on('end', () => {
                outcome.text = text;
                settle();
            });
            res.on('error', settle);
        });
        req.on('error', (err) => {
            outcome.error = err.message;
            // An answer may still be on its way after a broken pipe: give it a moment.
            setTimeout(settle, 300);
        });
        req.on('close', () => setTimeout(settle, 300));
        const pump = () => {
            while (!settled && outcome.written < options.totalBytes && !req.destroyed) {
                const part = outcome.written + chunk.length <= options.totalBytes ? chunk : chunk.subarray(0, options.totalBytes - outcome.written);
                outcome.written += part.length;
                if (options.pauseMs) {
                    req.write(part);
                    setTimeout(pump, options.pauseMs);
                    return;
                }
                if (!req.write(part)) {
                    req.once('drain', pump);
                    return;
                }
            }
            if (!settled && outcome.written >= options.totalBytes && !req.destroyed) req.end();
        };
        req.flushHeaders();
        if (options.headersFirstMs) setTimeout(pump, options.headersFirstMs);
        else pump();
    });
}

/** VmRSS and VmHWM (peak) of a process, in bytes, from /proc. */
export function memoryOf(pid: number): { rss: number; peak: number } {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Sets VmHWM back to the current RSS (Linux: 5 to /proc/<pid>/clear_refs), so the next peak is this attack's. */
export function resetPeak(pid: number): void {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

export function isRunning(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** Every regular file under the folders, with the sha256 of its content. */
export function filesUnder(...dirs: string[]): Map<string, string> {
    const files = new Map<string, string>();
    const walk = (dir: string) => {
        let entries: fs.Dirent[];
        try {
            entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
            return;
        }
        for (const entry of entries) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else if (entry.isFile()) files.set(full, crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex'));
        }
    };
    for (const dir of dirs) walk(dir);
    return files;
}
