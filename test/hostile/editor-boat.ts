import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DemoBoat } from '../../tools/demo-boat';
import { checkBuilt, DEMO_CREDENTIAL_SECRET, freePort, PACKAGE_NAME, packageRoot } from '../../tools/node-red-runtime';
import { demoBoat, FAST_QUEUE_ENV, loadFlow } from '../e2e/harness';

// The boat's Node-RED as shipped for the tests of its editor and its sockets: flows/boat.json on a demo boat, with
// the settings a test needs that the shared runtime does not write (adminAuth, the address it listens on) and,
// when asked, a limit on its open files set by prlimit as a service manager would. Needs `npm run build`.

export interface EditorBoatOptions {
    /** Node-RED's adminAuth setting; none: the editor has no password, as Node-RED ships. */
    adminAuth?: unknown;
    /** The address Node-RED listens on; 127.0.0.1 unless told otherwise. */
    host?: string;
    /** Where the editor and its API live; `/` unless told otherwise. */
    httpAdminRoot?: string;
    /** RLIMIT_NOFILE (soft and hard) for the Node-RED process. */
    openFiles?: number;
}

export interface EditorBoat {
    boat: DemoBoat;
    url: string;
    port: number;
    pid: number;
    userDir: string;
    log(): string;
    stop(): Promise<void>;
}

function quietFlow(): unknown[] {
    const flow = loadFlow('boat');
    for (const node of flow) {
        if (node.type === 'inject') {
            node.once = false;
            node.repeat = '';
        }
        if (node.type === 'd3kos-schedule') node.catchUp = false;
    }
    return flow;
}

export async function startEditorBoat(dir: string, options: EditorBoatOptions = {}): Promise<EditorBoat> {
    const root = packageRoot();
    checkBuilt(root);
    const boat = await demoBoat(dir);
    const userDir = path.join(dir, 'boat-node-red');
    fs.mkdirSync(path.join(userDir, 'node_modules', '@d3kos'), { recursive: true });
    const link = path.join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
    if (!fs.existsSync(link)) fs.symlinkSync(root, link, 'dir');
    fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(quietFlow(), null, 4));

    const host = options.host ?? '127.0.0.1';
    const port = await freePort(host);
    const settings = {
        uiPort: port,
        uiHost: host,
        userDir,
        flowFile: 'flows.json',
        credentialSecret: DEMO_CREDENTIAL_SECRET,
        httpAdminRoot: options.httpAdminRoot ?? '/',
        httpNodeRoot: '/',
        lang: 'en-US',
        logging: { console: { level: 'info', metrics: false, audit: false } },
        diagnostics: { enabled: false, ui: false },
        runtimeState: { enabled: false, ui: false },
        telemetry: { enabled: false, updateNotification: false },
        externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
        editorTheme: { tours: false },
        ...(options.adminAuth ? { adminAuth: options.adminAuth } : {}),
    };
    const settingsFile = path.join(userDir, 'settings.js');
    fs.writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 4)};\n`);

    const redJs = require.resolve('node-red/red.js', { paths: [root] });
    const command = [process.execPath, redJs, '--settings', settingsFile, '--userDir', userDir];
    const [file, ...args] = options.openFiles ? ['prlimit', `--nofile=${options.openFiles}:${options.openFiles}`, '--', ...command] : command;
    const child = spawn(file, args, {
        cwd: userDir,
        env: { ...process.env, D3KOS_ROOT: boat.root, D3KOS_MEDIA_DIR: boat.mediaDir, D3KOS_BACKUP_DIR: boat.backupDir, D3KOS_CENTRAL_URL: '', ...FAST_QUEUE_ENV, D3KOS_QUEUE_POLL_S: '3600' },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let gone = false;
    exited.then(() => (gone = true));
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);

    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60000;
    for (;;) {
        if (gone || Date.now() > deadline) {
            child.kill('SIGKILL');
            throw new Error(`Node-RED did not start\n--- Node-RED log ---\n${log}`);
        }
        if (/Started flows/.test(log)) {
            const answer = await fetch(`${url}${settings.httpAdminRoot.replace(/\/?$/, '/')}auth/login`).catch(() => null);
            if (answer?.status === 200) break;
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        boat,
        url,
        port,
        pid: child.pid!,
        userDir,
        log: () => log,
        stop: async () => {
            process.removeListener('exit', killOnExit);
            if (gone) return;
            child.kill('SIGINT');
            const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
            await exited;
            clearTimeout(timer);
        },
    };
}
