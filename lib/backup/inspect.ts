import { promises as fs } from 'fs';
import * as crypto from 'crypto';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { ArchiveEntry, readArchive } from './archive';
import { hashFile } from '../files/hash';
import { checkEntryPath, checkEntryType } from './entries';
import { Manifest, MANIFEST_NAME, parseManifest } from './manifest';
import { sidecarOf } from './names';
import { Authenticity, AUTH_NAME, BackupTrust, checkAuthenticator, MAX_AUTH_BYTES } from './authenticity';

const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;

/** The `sha256sum` line for an archive: `<hex>  <name>\n`, what `sha256sum -c` reads. */
export function sidecarLine(sha256: string, name: string): string {
    return `${sha256}  ${name}\n`;
}

/** Reads the checksum file beside an archive and compares it with the archive's bytes. */
export async function checkSidecar(archive: string, name: string): Promise<string> {
    let text: string;
    try {
        text = await fs.readFile(sidecarOf(archive), 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') {
            throw new BoatDataError('BACKUP_CHECKSUM_MISSING', `backup ${name} has no checksum file (${name}.sha256), so it cannot be trusted`, 422);
        }
        throw new BoatDataError('BACKUP_UNREADABLE', `the checksum file of backup ${name} cannot be read: ${errorMessage(err)}`, 500);
    }
    const match = /^([0-9a-fA-F]{64}) [ *](.+?)\r?\n?$/.exec(text.split('\n').filter((l) => l.trim() !== '')[0] ?? '');
    if (!match) throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: its checksum file does not hold a sha256 line`, 422);
    if (match[2] !== name) {
        throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: its checksum file is for ${match[2]}, not for this archive`, 422);
    }
    const expected = match[1].toLowerCase();
    const actual = (await hashFile(archive)).sha256;
    if (actual !== expected) {
        throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: the archive's sha256 is ${actual} but its checksum file says ${expected} (the file was changed or cut short)`, 422);
    }
    return actual;
}

export interface InspectedArchive {
    manifest: Manifest;
    sha256: string;
    authenticity: Authenticity;
}

/**
 * Proves an archive is whole, harmless and this boat's own without writing
 * anything: the checksum file matches; every entry is a plain file or
 * folder at a safe relative path; the manifest's authenticator is one of
 * the trusted keys' (authenticity.ts), checked before the manifest is
 * read; the manifest lists exactly the files present, each with the size
 * and sha256 it has.
 */
export async function inspectArchive(archive: string, name: string, identities: string[] | undefined, trust: BackupTrust): Promise<InspectedArchive> {
    const sha256 = await checkSidecar(archive, name);
    const found = new Map<string, { sha256: string; size: number }>();
    let manifestBytes: Buffer | null = null;
    let authBytes: Buffer | null = null;
    let unsafe: BoatDataError | null = null;
    let duplicate: string | null = null;

    try {
        await readArchive(
            archive,
            async (entry: ArchiveEntry) => {
                const type = String(entry.type);
                const typeProblem = checkEntryType(type);
                const pathProblem = typeProblem ? null : checkEntryPath(entry.path, type === 'Directory');
                const problem = typeProblem ?? pathProblem;
                if (problem) {
                    const to = entry.linkpath ? ` to ${entry.linkpath}` : '';
                    unsafe ??= new BoatDataError('BACKUP_UNSAFE', `backup ${name} contains an unsafe entry ${entry.path} (${problem}${to})`, 422);
                    entry.resume();
                    return;
                }
                if (type === 'Directory') {
                    entry.resume();
                    return;
                }
                const kept = entry.path === MANIFEST_NAME ? MAX_MANIFEST_BYTES : entry.path === AUTH_NAME ? MAX_AUTH_BYTES : 0;
                if (found.has(entry.path) || (entry.path === MANIFEST_NAME && manifestBytes !== null) || (entry.path === AUTH_NAME && authBytes !== null)) duplicate ??= entry.path;
                const hash = crypto.createHash('sha256');
                const keep: Buffer[] = [];
                let size = 0;
                for await (const chunk of entry) {
                    hash.update(chunk as Buffer);
                    size += (chunk as Buffer).length;
                    if (size <= kept) keep.push(chunk as Buffer);
                }
                if (kept > 0) {
                    if (size > kept) throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: its ${entry.path} is implausibly large`, 422);
                    if (entry.path === MANIFEST_NAME) manifestBytes = Buffer.concat(keep);
                    else authBytes = Buffer.concat(keep);
                } else {
                    found.set(entry.path, { sha256: hash.digest('hex'), size });
                }
            },
            identities,
        );
    } catch (err) {
        if (err instanceof BoatDataError) throw err;
        throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: the archive cannot be read (${errorMessage(err)})`, 422);
    }
    if (unsafe) throw unsafe;
    if (duplicate) throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: it holds ${duplicate} twice`, 422);
    if (manifestBytes === null) throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: it has no manifest.json`, 422);
    const authenticity = checkAuthenticator(name, manifestBytes, authBytes, trust);

    const manifest = parseManifest((manifestBytes as Buffer).toString('utf8'), name);
    const listed = new Set(manifest.files.map((f) => f.path));
    for (const file of manifest.files) {
        const actual = found.get(file.path);
        if (!actual) throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: manifest lists ${file.path} but the archive does not contain it`, 422);
        if (actual.sha256 !== file.sha256) {
            throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: manifest says ${file.path} should be sha256 ${file.sha256} but it is ${actual.sha256}`, 422);
        }
        if (actual.size !== file.size) {
            throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: manifest says ${file.path} has ${file.size} bytes but it has ${actual.size}`, 422);
        }
    }
    for (const archived of found.keys()) {
        if (!listed.has(archived)) throw new BoatDataError('BACKUP_DAMAGED', `backup ${name} is damaged: it contains ${archived}, which its manifest does not list`, 422);
    }
    return { manifest, sha256, authenticity };
}
