import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import type { DemoBoat, DemoBoatOptions } from '../../tools/demo-boat';
import type { RunningNodeRed } from '../../tools/node-red-runtime';
import { Answer, call, demoBoat, startBoat } from '../e2e/harness';
import { scratchFolder } from '../support/folders';

// What the backup tests of the hostile-network suite share: a demo boat, its Node-RED running
// flows/boat.json, and JSON requests as any device on the boat's Wi-Fi would send them.

export interface BackupBoat {
    scratch: ReturnType<typeof scratchFolder>;
    boat: DemoBoat;
    nodeRed: RunningNodeRed;
}

/** Nothing listens on port 9 of loopback: the boat's uploads fail fast and stay queued. */
export const NO_CENTRAL = 'http://127.0.0.1:9';

export async function startBackupBoat(label: string, options: Partial<DemoBoatOptions> = {}, centralUrl = NO_CENTRAL): Promise<BackupBoat> {
    const scratch = scratchFolder(label);
    const boat = await demoBoat(scratch.dir, { boatlogRows: 40, telemetryRows: 300, ...options });
    const nodeRed = await startBoat(scratch.dir, boat, { centralUrl });
    return { scratch, boat, nodeRed };
}

export async function stopBackupBoat(b: BackupBoat | undefined): Promise<void> {
    await b?.nodeRed.stop();
    b?.scratch.remove();
}

export function postJson(nodeRed: RunningNodeRed, urlPath: string, body: unknown = {}): Promise<Answer> {
    return call(nodeRed, 'POST', urlPath, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** POST /api/backup/create; throws unless it answered 200. */
export async function createOverHttp(nodeRed: RunningNodeRed): Promise<string> {
    const answer = await postJson(nodeRed, '/api/backup/create');
    if (answer.status !== 200) throw new Error(`backup create answered ${answer.status}: ${answer.text}`);
    return answer.json.backup.name;
}

/** The archive as GET /api/backup/download serves it, saved in the scratch folder. */
export async function downloadOverHttp(b: BackupBoat, name: string): Promise<string> {
    const res = await fetch(`${b.nodeRed.url}/api/backup/download/${encodeURIComponent(name)}`);
    if (res.status !== 200) throw new Error(`download answered ${res.status}: ${await res.text()}`);
    const file = path.join(b.scratch.dir, `downloaded-${name}`);
    fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    return file;
}

/** Every byte of every file in an archive, one after the other. */
export function archiveContents(archive: string): string {
    return execFileSync('tar', ['-xzOf', archive], { maxBuffer: 256 << 20 }).toString('latin1');
}
