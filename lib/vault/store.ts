import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode } from '../errors';
import { syncFolder, writeFileAtomic, writeJsonAtomic } from '../files/atomic';
import { hashFile } from '../files/hash';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { parseBackupName } from '../backup/names';

/**
 * The central side's copies of boats' encrypted backups:
 * `<vault folder>/backup-vault/<installation_id>/<name>.tar.gz.age` with its
 * `.sha256` (as `sha256sum -c` reads it) and a `.json` record of when it
 * arrived and when its bytes were last checked. The vault only ever holds
 * age-encrypted files and has no key to open them; it checks what it can
 * without one (name, age header, sha256) and keeps each boat's newest N.
 *
 * "Newest" is by arrival at the vault, never by the date in the name: the
 * name is the boat's word, and a boat (or whoever holds its token) can put
 * any date there. Every instance of a central side on one shared folder
 * reads the same files.
 */
export const DEFAULT_VAULT_KEEP = 5;
const AGE_HEADER = Buffer.from('age-encryption.org/v1\n');
/** A backup named more than this far ahead of the vault's clock is refused: its boat's clock is wrong, or it is not a boat. */
export const FUTURE_NAME_MS = 24 * 60 * 60 * 1000;

export interface VaultCopy {
    name: string;
    size_bytes: number;
    sha256: string;
    /** When the backup was made on the boat (UTC, from its name; the boat's word). */
    created_at: string;
    /** When the copy arrived here: copies are ordered and pruned by this. */
    received_at: string;
    /** When its bytes were last hashed and compared with its sha256 (at arrival, then on the vault's schedule). */
    checked_at: string | null;
    /** The bytes on disk no longer match the sha256 they arrived with. */
    damaged: boolean;
}

interface CopyRecord {
    received_at: string;
    checked_at: string | null;
    damaged: boolean;
}

export function vaultDir(folder: string): string {
    return path.join(folder, 'backup-vault');
}

export function uploadsDir(folder: string): string {
    return path.join(folder, 'backup-uploads');
}

export function checkInstallation(installationId: string): string {
    if (!INSTALLATION_ID_PATTERN.test(installationId)) throw new BoatDataError('INSTALLATION_ID_INVALID', `"${installationId}" is not an installation id (16 hexadecimal characters)`, 400);
    return installationId.toLowerCase();
}

export function boatDir(folder: string, installationId: string): string {
    return path.join(vaultDir(folder), checkInstallation(installationId));
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

/** A new upload's name: as checkCopyName, and not dated more than a day ahead of this clock. */
export function checkNewCopyName(name: unknown, now = Date.now()): string {
    const text = checkCopyName(name);
    const created = parseBackupName(text)!.created;
    if (created.getTime() > now + FUTURE_NAME_MS) {
        throw new BoatDataError(
            'VAULT_NAME_IN_FUTURE',
            `${text} is dated ${created.toISOString()}, more than a day ahead of the vault's clock (${new Date(now).toISOString()}); check the boat's clock and make a new backup`,
            400,
        );
    }
    return text;
}

/**
 * Takes in a finished upload: it must start as an age file does and match
 * the sha256 the boat announced. Moved into place with its sidecars, then
 * the boat's copies beyond `keep` that arrived before it are removed. The
 * caller holds the boat's lock.
 */
export async function acceptCopy(folder: string, installationId: string, name: string, uploaded: string, sha256: string, keep: number): Promise<VaultCopy> {
    checkCopyName(name);
    const head = Buffer.alloc(AGE_HEADER.length);
    const handle = await fs.open(uploaded, 'r').catch((err) => {
        if (errorCode(err) === 'ENOENT') throw new BoatDataError('VAULT_UPLOAD_GONE', `the upload of ${name} was removed before it was finished; it is sent again`, 410);
        throw err;
    });
    try {
        await handle.read(head, 0, head.length, 0);
    } finally {
        await handle.close();
    }
    if (!head.equals(AGE_HEADER)) throw new BoatDataError('VAULT_NOT_ENCRYPTED', `${name} is not an age-encrypted file; the vault keeps encrypted backups only`, 422);
    const actual = (await hashFile(uploaded)).sha256;
    if (actual !== sha256.toLowerCase()) throw new BoatDataError('VAULT_CHECKSUM_MISMATCH', `${name} arrived with sha256 ${actual}, not the ${sha256} the boat sent; it is sent again`, 460);
    const dir = boatDir(folder, installationId);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const target = path.join(dir, name);
    const now = new Date().toISOString();
    await writeFileAtomic(target + '.sha256', `${actual}  ${name}\n`, { mode: 0o600 });
    await writeRecord(target, { received_at: now, checked_at: now, damaged: false });
    await fs.rename(uploaded, target);
    await syncFolder(dir);
    await pruneCopies(folder, installationId, keep, name);
    const stat = await fs.stat(target);
    return { name, size_bytes: stat.size, sha256: actual, created_at: parseBackupName(name)!.created.toISOString(), received_at: now, checked_at: now, damaged: false };
}

/** A boat's copies, the last to arrive first. */
export async function listCopies(folder: string, installationId: string): Promise<VaultCopy[]> {
    const dir = boatDir(folder, installationId);
    let names: string[];
    try {
        names = await fs.readdir(dir);
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return [];
        throw err;
    }
    const copies: VaultCopy[] = [];
    for (const name of names) {
        const parsed = parseBackupName(name);
        if (!parsed?.encrypted) continue;
        const file = path.join(dir, name);
        const stat = await fs.lstat(file).catch(() => null);
        if (!stat?.isFile()) continue;
        const line = await fs.readFile(file + '.sha256', 'utf8').catch(() => '');
        const sha256 = /^[0-9a-f]{64}/.exec(line)?.[0];
        if (!sha256) continue;
        // A copy from before records were kept arrived when it was last written.
        const record = (await readRecord(file)) ?? { received_at: stat.mtime.toISOString(), checked_at: null, damaged: false };
        copies.push({ name, size_bytes: stat.size, sha256, created_at: parsed.created.toISOString(), ...record });
    }
    return copies.sort((a, b) => b.received_at.localeCompare(a.received_at) || b.name.localeCompare(a.name));
}

/** The file behind one copy, for serving. */
export async function copyFile(folder: string, installationId: string, name: unknown): Promise<{ file: string; size: number; sha256: string }> {
    const checked = checkCopyName(name);
    const found = (await listCopies(folder, installationId)).find((c) => c.name === checked);
    if (!found) throw new BoatDataError('VAULT_COPY_NOT_FOUND', `installation ${installationId} has no copy named ${checked}`, 404);
    return { file: path.join(boatDir(folder, installationId), checked), size: found.size_bytes, sha256: found.sha256 };
}

/** Every installation that has a folder in the vault. */
export async function vaultInstallations(folder: string): Promise<string[]> {
    const names = await fs.readdir(vaultDir(folder)).catch(() => [] as string[]);
    return names.filter((name) => INSTALLATION_ID_PATTERN.test(name));
}

/** Hashes one copy again and writes down what it found; true when its bytes still match. */
export async function recheckCopy(folder: string, installationId: string, copy: VaultCopy): Promise<boolean> {
    const file = path.join(boatDir(folder, installationId), copy.name);
    const found = await hashFile(file).catch(() => null);
    const intact = found !== null && found.sha256 === copy.sha256;
    // Removed meanwhile (pruned, erased): nothing to write down.
    if (found === null && !(await fs.lstat(file).catch(() => null))) return true;
    await writeRecord(file, { received_at: copy.received_at, checked_at: new Date().toISOString(), damaged: !intact });
    return intact;
}

/** Removes every file of a boat's copies; counts the copies and their bytes. */
export async function eraseCopies(folder: string, installationId: string): Promise<{ copies: number; bytes: number }> {
    const copies = await listCopies(folder, installationId);
    await fs.rm(boatDir(folder, installationId), { recursive: true, force: true });
    await syncFolder(vaultDir(folder));
    return { copies: copies.length, bytes: copies.reduce((sum, c) => sum + c.size_bytes, 0) };
}

async function pruneCopies(folder: string, installationId: string, keep: number, arrived: string): Promise<void> {
    const dir = boatDir(folder, installationId);
    const older = (await listCopies(folder, installationId)).filter((c) => c.name !== arrived);
    for (const old of older.slice(Math.max(1, keep) - 1)) {
        for (const suffix of ['', '.sha256', '.json']) await fs.rm(path.join(dir, old.name + suffix), { force: true });
    }
}

async function readRecord(file: string): Promise<CopyRecord | null> {
    try {
        const parsed = JSON.parse(await fs.readFile(file + '.json', 'utf8')) as Partial<CopyRecord>;
        if (typeof parsed.received_at !== 'string') return null;
        return { received_at: parsed.received_at, checked_at: typeof parsed.checked_at === 'string' ? parsed.checked_at : null, damaged: parsed.damaged === true };
    } catch {
        return null;
    }
}

function writeRecord(file: string, record: CopyRecord): Promise<void> {
    return writeJsonAtomic(file + '.json', record, { mode: 0o600 });
}

/** For tests and tools: every byte the vault stores, as a stream of files. */
export async function* storedFiles(folder: string): AsyncGenerator<string> {
    for (const top of [vaultDir(folder), uploadsDir(folder)]) {
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
