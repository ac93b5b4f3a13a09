import * as fs from 'fs';
import * as path from 'path';
import { buildDemoBoat, DemoBoat, DemoBoatOptions } from '../../tools/demo-boat';
import { packageRoot, RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';

// The boat and the central database as two real Node-RED processes, as on the water: the boat runs
// flows/boat.json on a demo boat, the central side flows/central-ingest.json. Tests talk HTTP only.

export const root = packageRoot();

export type FlowNode = Record<string, any>;

export function loadFlow(name: 'boat' | 'central-ingest'): FlowNode[] {
    return JSON.parse(fs.readFileSync(path.join(root, 'flows', `${name}.json`), 'utf8'));
}

export function flowNode(flow: FlowNode[], id: string): FlowNode {
    const node = flow.find((n) => n.id === id);
    if (!node) throw new Error(`flows/boat.json has no node ${id}`);
    return node;
}

/** Settings that keep the tests quick: the queue polls every second, retries after a second. */
export const FAST_QUEUE_ENV = { D3KOS_QUEUE_POLL_S: '1', D3KOS_RETRY_SCHEDULE: '0,1,1' };

export async function demoBoat(dir: string, options: Partial<DemoBoatOptions> = {}): Promise<DemoBoat> {
    return buildDemoBoat({ root: path.join(dir, 'boat'), mediaDir: path.join(dir, 'camera-recordings'), backupDir: path.join(dir, 'backups'), ...options });
}

export async function startCentral(dir: string, env: Record<string, string> = {}): Promise<RunningNodeRed> {
    return startNodeRed({
        userDir: path.join(dir, 'central-node-red'),
        flows: loadFlow('central-ingest'),
        env: { D3KOS_INGEST_MODE: 'open', D3KOS_INGEST_DIR: path.join(dir, 'central-data'), ...env },
        quiet: true,
    });
}

export interface BoatStart {
    centralUrl: string;
    env?: Record<string, string>;
    /** Changes to the boat flow for this test (a shorter catch-up delay, say). */
    tweak?: (flow: FlowNode[]) => void;
    deviceToken?: string;
}

export async function startBoat(dir: string, boat: DemoBoat, options: BoatStart): Promise<RunningNodeRed> {
    const flow = loadFlow('boat');
    options.tweak?.(flow);
    return startNodeRed({
        userDir: path.join(dir, 'boat-node-red'),
        flows: flow,
        env: {
            D3KOS_ROOT: boat.root,
            D3KOS_MEDIA_DIR: boat.mediaDir,
            D3KOS_BACKUP_DIR: boat.backupDir,
            D3KOS_CENTRAL_URL: options.centralUrl,
            ...FAST_QUEUE_ENV,
            ...options.env,
        },
        credentials: options.deviceToken ? { 'd3kos-boat': { deviceToken: options.deviceToken } } : undefined,
        quiet: true,
    });
}

export interface Answer {
    status: number;
    headers: Headers;
    text: string;
    json: any;
}

/** One HTTP request, as curl or a page would send it. */
export async function call(nodeRed: RunningNodeRed, method: string, urlPath: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const res = await fetch(nodeRed.url + urlPath, { method, headers: options.headers, body: options.body });
    const text = await res.text();
    let json: any;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
}

export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, ms = 20000): Promise<T> {
    const deadline = Date.now() + ms;
    let last: unknown;
    for (;;) {
        try {
            const value = await check();
            if (value) return value;
        } catch (err) {
            last = err;
        }
        if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
        await new Promise((r) => setTimeout(r, 200));
    }
}

export function exportFiles(boat: DemoBoat): string[] {
    try {
        return fs.readdirSync(boat.layout.exportFilesDir).filter((name) => /^export_.*\.json(\.br|\.gz)?$/.test(name) && !/-bulk\.json/.test(name));
    } catch {
        return [];
    }
}

export function readQueueFile(boat: DemoBoat): any {
    return JSON.parse(fs.readFileSync(boat.layout.queueFile, 'utf8'));
}
