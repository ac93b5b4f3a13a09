import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { loadFlow, FlowNode } from '../e2e/harness';
import { RunningNodeRed, startNodeRed } from '../../tools/node-red-runtime';

// A real central Node-RED with flows/central-ingest.json (npm run build first), in tokens mode, and raw tus
// requests as a boat (or someone with its token) would send them.

/** Boat `letter`'s installation id and device token; boats a to f are in devices.json. */
export function boat(letter: string): { id: string; token: string } {
    return { id: letter.repeat(16), token: `device-token-of-boat-${letter}-0000${letter}` };
}
export const BOAT_A = boat('a').id;
export const BOAT_B = boat('b').id;
export const TOKEN_A = boat('a').token;
export const TOKEN_B = boat('b').token;
export const OPERATOR = 'operator-token-of-the-fleet-01';
export const TUS = { 'Tus-Resumable': '1.0.0' };

export interface CentralStart {
    /** The ingest's data folder (devices.json, operators.json); made here. */
    dataDir: string;
    /** The vault folder; default the data folder. */
    vaultDir?: string;
    env?: Record<string, string>;
    /** Changes to the shipped vault node (a schedule, a quota). */
    vault?: Record<string, unknown>;
}

export async function startVaultCentral(dir: string, start: CentralStart): Promise<RunningNodeRed> {
    fs.mkdirSync(start.dataDir, { recursive: true });
    const devices = Object.fromEntries([...'abcdef'].map((letter) => [boat(letter).token, boat(letter).id]));
    fs.writeFileSync(path.join(start.dataDir, 'devices.json'), JSON.stringify(devices));
    fs.writeFileSync(path.join(start.dataDir, 'operators.json'), JSON.stringify([OPERATOR]));
    const flow = loadFlow('central-ingest');
    const vault = flow.find((n: FlowNode) => n.type === 'd3kos-backup-vault')!;
    Object.assign(vault, start.vault ?? {});
    return startNodeRed({
        userDir: path.join(dir, 'node-red'),
        flows: flow,
        env: { D3KOS_INGEST_MODE: 'tokens', D3KOS_INGEST_DIR: start.dataDir, D3KOS_VAULT_DIR: start.vaultDir ?? '', ...start.env },
        quiet: true,
    });
}

/** Bytes that start as an age file does. */
export function fakeBackup(size = 64 * 1024): { bytes: Buffer; sha256: string } {
    const bytes = Buffer.concat([Buffer.from('age-encryption.org/v1\n'), crypto.randomBytes(size)]);
    return { bytes, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

export function metadata(name: string, sha256: string): string {
    return `filename ${Buffer.from(name).toString('base64')},sha256 ${Buffer.from(sha256).toString('base64')}`;
}

export function bearer(token: string): Record<string, string> {
    return { Authorization: `Bearer ${token}` };
}

export function createUpload(base: string, token: string, name: string, length: number, sha256: string): Promise<Response> {
    return fetch(`${base}/api/v1/backup-uploads`, {
        method: 'POST',
        headers: { ...bearer(token), ...TUS, 'Upload-Length': String(length), 'Upload-Metadata': metadata(name, sha256) },
    });
}

export function patchUpload(location: string, token: string, offset: number, body: Buffer): Promise<Response> {
    return fetch(location, {
        method: 'PATCH',
        headers: { ...bearer(token), ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
        body: new Uint8Array(body),
    });
}

/** Makes an upload and sends all of it in one PATCH; the PATCH's answer. */
export async function uploadWhole(base: string, token: string, name: string, backup = fakeBackup()): Promise<Response> {
    const made = await createUpload(base, token, name, backup.bytes.length, backup.sha256);
    if (made.status !== 201) return made;
    return patchUpload(made.headers.get('location')!, token, 0, backup.bytes);
}

/** Resident memory of a process, in MB. */
export function rssMb(pid: number): number {
    const line = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line ? Number(line[1]) / 1024 : NaN;
}

/** Every file under a folder, relative to it. */
export function filesUnder(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => fs.statSync(path.join(dir, name)).isFile());
}

/** The name of a backup made `daysFromNow` days from now (negative: in the past). */
export function backupName(daysFromNow: number, second = 0): string {
    const when = new Date(Date.now() + daysFromNow * 86400000);
    const stamp = when.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 13) + String(second).padStart(2, '0');
    return `d3kos_backup_${stamp}.tar.gz.age`;
}
