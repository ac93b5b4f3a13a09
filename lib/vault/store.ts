import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode } from '../errors';
import { syncFolder, writeFileAtomic } from '../files/atomic';
import { hashFile } from '../files/hash';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { compareBackupNames, parseBackupName } from '../backup/names';

/**
 * The central side's copies of boats' encrypted backups:
 * `<data dir>/backup-vault/<installation_id>/<name>.tar.gz.age` with its
 * `.sha256`. The vault only ever holds age-encrypted files and has no key
 * to open them; it checks what it can without one (name, age header,
 * sha256) and keeps each boat's newest N.
 */
export const DEFAULT_VAULT_KEEP = 5;
const AGE_HEADER = Buffer.from('age-encryption.org/v1\n');

export interface VaultCopy {
    name: string;
    size_bytes: number;
    sha256: string;
    /** When the backup was made on the boat (UTC, from its name). */
    created_at: string;
    /** When the copy arrived here. */
    received_at: string;
}

export function vaultDir(dataDir: string): string {
    return path.join(dataDir, 'backup-vault');
}

export function uploadsDir(dataDir: string): string {
    return path.join(dataDir, 'backup-uploads');
}

function boatDir(dataDir: string, installationId: string): string {
    if (!INSTALLATION_ID_PATTERN.test(installationId)) throw new BoatDataError('INSTALLATION_ID_INVALID', `"${installationId}" is not an installation id (16 hexadecimal characters)`, 400);
    return path.join(vaultDir(dataDir), installationId.toLowerCase());
}

/** A name the vault accepts: an encrypted d3kOS backup's, nothing else (no path, no plain archive). */
export function checkCopyName(name: unknown): string {
    const text = typeof name === 'string' ? name : '';
    const parsed = parseBackupName(text);
    if (!parsed || !parsed.encrypted) {
        throw new BoatDataError('VAULT_NAME_INVALID', `${JSON.stringify(name)} is not the name of an encrypted d3kOS backup (d3kos_backup_<date>_<time>.tar.gz.age)`, 400);
    }
    return text;
}

/**
 * Takes in a finished upload: it must start as an age file does and match
 * the sha256 the boat announced. Moved into place with its sidecar, then
 * the boat's older copies beyond `keep` are removed.
 */
export async function acceptCopy(dataDir: string, installationId: string, name: string, uploaded: string, sha256: string, keep: number): Promise<VaultCopy> {
    checkCopyName(name);
    const head = Buffer.alloc(AGE_HEADER.length);
    const handle = await fs.open(uploaded, 'r');
    try {
        await handle.read(head, 0, head.length, 0);
    } finally {
        await handle.close();
    }
    if (!head.equals(AGE_HEADER)) throw new BoatDataError('VAULT_NOT_ENCRYPTED', `${name} is not an age-encrypted file; the vault keeps encrypted backups only`, 422);
    const actual = (await hashFile(uploaded)).sha256;
    if (actual !== sha256.toLowerCase()) throw new BoatDataError('VAULT_CHECKSUM_MISMATCH', `${name} arrived with sha256 ${actual}, not the ${sha256} the boat sent; it is sent again`, 460);
    const dir = boatDir(dataDir, installationId);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const target = path.join(dir, name);
    await writeFileAtomic(target + '.sha256', `${actual}  ${name}\n`, { mode: 0o600 });
    await fs.rename(uploaded, target);
    await syncFolder(dir);
    await pruneCopies(dataDir, installationId, keep);
    const stat = await fs.stat(target);
    return { name, size_bytes: stat.size, sha256: actual, created_at: parseBackupName(name)!.created.toISOString(), received_at: stat.mtime.toISOString() };
}

/** A boat's copies, newest first. */
export async function listCopies(dataDir: string, installationId: string): Promise<VaultCopy[]> {
    const dir = boatDir(dataDir, installationId);
    let names: string[];
    try {
        names = await fs.readdir(dir);
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return [];
        throw err;
    }
    const copies: VaultCopy[] = [];
    const parsed = names
        .map(parseBackupName)
        .filter((b) => b !== null && b.encrypted)
        .sort((a, b) => compareBackupNames(b!, a!));
    for (const b of parsed) {
        const file = path.join(dir, b!.name);
        const stat = await fs.lstat(file).catch(() => null);
        if (!stat?.isFile()) continue;
        const line = await fs.readFile(file + '.sha256', 'utf8').catch(() => '');
        const sha256 = /^[0-9a-f]{64}/.exec(line)?.[0];
        if (!sha256) continue;
        copies.push({ name: b!.name, size_bytes: stat.size, sha256, created_at: b!.created.toISOString(), received_at: stat.mtime.toISOString() });
    }
    return copies;
}

/** The file behind one copy, for serving. */
export async function copyFile(dataDir: string, installationId: string, name: unknown): Promise<{ file: string; size: number; sha256: string }> {
    const checked = checkCopyName(name);
    const found = (await listCopies(dataDir, installationId)).find((c) => c.name === checked);
    if (!found) throw new BoatDataError('VAULT_COPY_NOT_FOUND', `installation ${installationId} has no copy named ${checked}`, 404);
    return { file: path.join(boatDir(dataDir, installationId), checked), size: found.size_bytes, sha256: found.sha256 };
}

async function pruneCopies(dataDir: string, installationId: string, keep: number): Promise<void> {
    const copies = await listCopies(dataDir, installationId);
    const dir = boatDir(dataDir, installationId);
    for (const old of copies.slice(Math.max(1, keep))) {
        await fs.rm(path.join(dir, old.name), { force: true });
        await fs.rm(path.join(dir, old.name + '.sha256'), { force: true });
    }
}

/** For tests and tools: every byte the vault stores, as a stream of files. */
export async function* storedFiles(dataDir: string): AsyncGenerator<string> {
    for (const top of [vaultDir(dataDir), uploadsDir(dataDir)]) {
        const walk = async function* (dir: string): AsyncGenerator<string> {
            for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
                const full = path.join(dir, entry.name);
                if (entry.isDirectory()) yield* walk(full);
                else if (entry.isFile()) yield full;
            }
        };
        yield* walk(top);
    }
}

/** Uploads a boat started and never finished (it sent a newer backup instead) are removed after this long. */
export const STALE_UPLOAD_MS = 7 * 24 * 60 * 60 * 1000;

export async function removeStaleUploads(dataDir: string, now = Date.now()): Promise<string[]> {
    const dir = uploadsDir(dataDir);
    const removed: string[] = [];
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
        const file = path.join(dir, name);
        const stat = await fs.stat(file).catch(() => null);
        if (!stat?.isFile() || now - stat.mtimeMs < STALE_UPLOAD_MS) continue;
        await fs.rm(file, { force: true });
        removed.push(name);
    }
    return removed;
}
