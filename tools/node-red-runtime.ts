import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';

/**
 * A real Node-RED 4.1 (the one in this repo's node_modules) in a child
 * process, with this package installed the way npm would: for `npm start`,
 * the smoke test, the end-to-end and crash tests and the browser tests.
 */
export interface NodeRedOptions {
    /** Created if missing. */
    userDir: string;
    /** 0 or undefined: a free port is picked. */
    port?: number;
    /** Address to listen on; 127.0.0.1 unless told otherwise. */
    host?: string;
    /** The flow array to deploy, written as the flow file before start. */
    flows: unknown[];
    /** Extra environment (D3KOS_ROOT etc.). */
    env?: Record<string, string>;
    credentialSecret?: string;
    /** Node id -> credentials, written encrypted to the credentials file as Node-RED itself would. */
    credentials?: Record<string, Record<string, string>>;
    /** Do not echo Node-RED's log to this process's stdout. */
    quiet?: boolean;
    /** How long to wait for the flows to start; 60 s unless told otherwise. */
    startTimeoutMs?: number;
}

export interface RunningNodeRed {
    url: string;
    port: number;
    userDir: string;
    pid: number;
    /** Everything Node-RED has written to stdout and stderr so far. */
    log(): string;
    /** SIGINT (Node-RED closes every node), then waits for the exit; SIGKILL after 20 s. */
    stop(): Promise<void>;
    /** Sends a signal (SIGKILL unless told otherwise), as a power cut would, and waits for the exit. */
    kill(signal?: NodeJS.Signals): Promise<void>;
    /** Settles with the exit code (-1 for a signal) when the process ends, for whatever reason. */
    exited: Promise<number | null>;
}

export const DEMO_CREDENTIAL_SECRET = 'd3kos-demo-credential-secret';
export const PACKAGE_NAME = '@d3kos/node-red-data';

const LOG_LIMIT = 4 * 1024 * 1024;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** The repository root: the folder holding our package.json, found upward from this file (source or dist/). */
export function packageRoot(): string {
    let dir = __dirname;
    for (;;) {
        const manifest = path.join(dir, 'package.json');
        if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === PACKAGE_NAME) return dir;
        const up = path.dirname(dir);
        if (up === dir) throw new Error(`could not find the ${PACKAGE_NAME} package.json above ${__dirname}`);
        dir = up;
    }
}

/** The node files package.json lists for Node-RED, by type. */
export function packageNodes(root = packageRoot()): Record<string, string> {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    return manifest['node-red']?.nodes ?? {};
}

/** Throws, naming what is missing, when dist/ does not hold every node package.json lists. */
export function checkBuilt(root = packageRoot()): void {
    const missing = Object.values(packageNodes(root)).filter((file) => !fs.existsSync(path.join(root, file)));
    if (!fs.existsSync(path.join(root, 'dist')) || missing.length > 0) {
        const detail = missing.length > 0 ? ` (missing: ${missing.join(', ')})` : '';
        throw new Error(`the package is not built${detail}: run npm run build first`);
    }
}

export async function startNodeRed(options: NodeRedOptions): Promise<RunningNodeRed> {
    const root = packageRoot();
    checkBuilt(root);
    const userDir = path.resolve(options.userDir);
    prepareUserDir(root, userDir, options);

    // A port picked by the OS can be taken again before Node-RED binds it: try a fresh one a few times.
    const attempts = options.port ? 1 : 4;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
        const port = options.port || (await freePort(options.host ?? '127.0.0.1'));
        try {
            return await launch(root, userDir, port, options);
        } catch (err) {
            lastError = err as Error;
            if (!/EADDRINUSE|Unable to listen/.test(lastError.message)) throw lastError;
        }
    }
    throw lastError;
}

function prepareUserDir(root: string, userDir: string, options: NodeRedOptions): void {
    fs.mkdirSync(path.join(userDir, 'node_modules', '@d3kos'), { recursive: true });
    // Installed as npm would link it: Node-RED reads its package.json `node-red.nodes`, which point into dist/.
    const link = path.join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
    let current: string | undefined;
    try {
        current = fs.readlinkSync(link);
    } catch {
        current = undefined;
    }
    if (current !== root) {
        fs.rmSync(link, { recursive: true, force: true });
        fs.symlinkSync(root, link, 'dir');
    }

    const secret = options.credentialSecret ?? DEMO_CREDENTIAL_SECRET;
    fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(options.flows, null, 4));
    const credentialsFile = path.join(userDir, 'flows_cred.json');
    if (options.credentials && Object.keys(options.credentials).length > 0) {
        fs.writeFileSync(credentialsFile, JSON.stringify(encryptCredentials(secret, options.credentials), null, 4));
    } else {
        fs.rmSync(credentialsFile, { force: true });
    }
}

/** Node-RED's own credentials format: aes-256-ctr under sha256(credentialSecret), hex IV then base64. */
export function encryptCredentials(secret: string, credentials: Record<string, Record<string, string>>): { $: string } {
    const key = crypto.createHash('sha256').update(secret).digest();
    const iv = crypto.randomBytes(16);
    const cipher = crypto.createCipheriv('aes-256-ctr', key, iv);
    return { $: iv.toString('hex') + cipher.update(JSON.stringify(credentials), 'utf8', 'base64') + cipher.final('base64') };
}

function settingsFileText(userDir: string, port: number, host: string, secret: string): string {
    const settings = {
        uiPort: port,
        uiHost: host,
        userDir,
        flowFile: 'flows.json',
        credentialSecret: secret,
        httpAdminRoot: '/',
        httpNodeRoot: '/',
        lang: 'en-US',
        logging: { console: { level: 'info', metrics: false, audit: false } },
        diagnostics: { enabled: false, ui: false },
        runtimeState: { enabled: false, ui: false },
        telemetry: { enabled: false, updateNotification: false },
        externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
        editorTheme: { tours: false },
    };
    return `// Written by tools/node-red-runtime.ts for this run; rewritten on every start.\nmodule.exports = ${JSON.stringify(settings, null, 4)};\n`;
}

async function launch(root: string, userDir: string, port: number, options: NodeRedOptions): Promise<RunningNodeRed> {
    const host = options.host ?? '127.0.0.1';
    const secret = options.credentialSecret ?? DEMO_CREDENTIAL_SECRET;
    const settingsFile = path.join(userDir, 'settings.js');
    fs.writeFileSync(settingsFile, settingsFileText(userDir, port, host, secret));

    const redJs = require.resolve('node-red/red.js', { paths: [root] });
    const child = spawn(process.execPath, [redJs, '--settings', settingsFile, '--userDir', userDir], {
        cwd: userDir,
        env: { ...process.env, ...options.env, NODE_RED_ENABLE_TOURS: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    installExitHook();

    let log = '';
    const append = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        log += text;
        if (log.length > LOG_LIMIT) log = log.slice(log.length - LOG_LIMIT);
        if (!options.quiet) process.stdout.write(text);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);

    const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code, signal) => {
            running.delete(child);
            resolve(code ?? (signal ? -1 : null));
        }),
    );
    let hasExited = false;
    exited.then(() => (hasExited = true));

    const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const url = `http://${connectHost.includes(':') ? `[${connectHost}]` : connectHost}:${port}`;
    const deadline = Date.now() + (options.startTimeoutMs ?? 60000);

    const waitForExit = async (ms: number) => {
        if (hasExited) return;
        const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
        await Promise.race([exited, timer]);
    };
    const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
        if (hasExited) return;
        child.kill(signal);
        await exited;
    };

    try {
        for (;;) {
            if (hasExited) throw new Error(`Node-RED exited before its flows started`);
            if (/Waiting for missing types to be registered/.test(log)) throw new Error('Node-RED is waiting for node types that did not load');
            if (/Unable to listen on|EADDRINUSE/.test(log)) throw new Error(`Node-RED could not listen on ${url} (EADDRINUSE)`);
            if (/Started flows/.test(log) && (await adminAnswers(url))) break;
            if (Date.now() > deadline) throw new Error(`Node-RED did not start its flows within ${options.startTimeoutMs ?? 60000} ms`);
            await new Promise((r) => setTimeout(r, 100));
        }
    } catch (err) {
        await kill('SIGKILL');
        const error = new Error(`${(err as Error).message}\n--- Node-RED log ---\n${log}`);
        throw error;
    }

    return {
        url,
        port,
        userDir,
        pid: child.pid!,
        log: () => log,
        stop: async () => {
            if (hasExited) return;
            child.kill('SIGINT');
            await waitForExit(20000);
            if (!hasExited) await kill('SIGKILL');
        },
        kill,
        exited,
    };
}

/** The admin API answers once the editor and runtime are listening. */
function adminAnswers(url: string): Promise<boolean> {
    return new Promise((resolve) => {
        const req = http.get(`${url}/settings`, { headers: { Accept: 'application/json' }, timeout: 2000 }, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
        });
        req.on('error', () => resolve(false));
        req.on('timeout', () => {
            req.destroy();
            resolve(false);
        });
    });
}

/** A port nothing listens on yet (the OS may hand it out again before it is bound: callers retry). */
export function freePort(host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on('error', reject);
        server.listen(0, host, () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
        });
    });
}

/** A test run that ends without stop() must not leave Node-RED behind. */
function installExitHook(): void {
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    process.on('exit', () => {
        for (const child of running) child.kill('SIGKILL');
    });
}
