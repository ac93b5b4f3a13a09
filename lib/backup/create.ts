import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { readLicense, License } from '../boat/license';
import { syncFolder, tempPathFor, writeFileAtomic } from '../files/atomic';
import { writeArchive } from './archive';
import { driveFull, isDiskFull, prepareBackupDir } from './drive';
import { itemCounts, Manifest, ManifestFile, MANIFEST_NAME, readmeText, README_NAME, FORMAT_VERSION } from './manifest';
import { backupName, baseName, sidecarOf } from './names';
import { BackupSettings, resolveSettings, ResolvedSettings } from './options';
import { pruneBackups } from './retention';
import { readBackupSecretRefs, replaceSecrets, SecretNeedle, secretNeedles, SecretScanner } from './secrets';
import { categoryOf, exists, findBackupSources, SkippedItem, SourceFile } from './sources';
import { replaceInDatabase, snapshotDatabase, tableRowCounts } from './snapshot';
import { sidecarLine } from './inspect';
import { withBackupLock } from './lock';
import { backupRecipients, encryptedReadme, privateStaging } from './encryption';
import { AUTH_NAME, authenticatorFor } from './authenticity';
import { stagingInUse } from './staging-in-use';

export interface CreateOptions {
    /** The safety backup a restore takes first: named `..._pre-restore.tar.gz`, and it prunes nothing. */
    preRestore?: boolean;
}

export interface CreatedBackup {
    success: true;
    backup: {
        name: string;
        size_bytes: number;
        /** When the backup was started (UTC ISO-8601). */
        created_at: string;
        /** Files in the archive besides the manifest (the README included). */
        file_count: number;
        sha256: string;
        path: string;
        installation_id: string | null;
        tier: number | null;
        items: Record<string, number>;
        pre_restore: boolean;
        /** Encrypted with age to the boat's key and the recovery key (`.tar.gz.age`); holds the secret files. */
        encrypted: boolean;
    };
    skipped: SkippedItem[];
    warnings: string[];
    /** Older backups removed to keep the last N. */
    pruned: string[];
}

/** Files bigger than this are copied as they are; smaller ones are read whole to replace copied secrets. */
const IN_MEMORY_LIMIT = 16 * 1024 * 1024;

export function createBackup(settings: BackupSettings, options: CreateOptions = {}): Promise<CreatedBackup> {
    const resolved = resolveSettings(settings);
    return withBackupLock(resolved.layout.backupDir, () => createBackupUnlocked(resolved, options));
}

/** For the restore, which already holds the backup folder's lock. */
export async function createBackupUnlocked(s: ResolvedSettings, options: CreateOptions = {}): Promise<CreatedBackup> {
    const dir = s.layout.backupDir;
    await prepareBackupDir(dir, s.requireMountedDrive);
    const started = s.now();
    // Encrypted once the owner has a recovery key (encryption.ts); such a backup holds the secret files too.
    const recipients = await backupRecipients(s.layout.root, s.encrypt);
    const { name, staging: claim } = await reserveName(dir, started, Boolean(options.preRestore), recipients !== null);
    // An encrypted backup's plaintext (secrets included) is staged on the boat's own disk, never on a backup drive.
    const staging = recipients
        ? await privateStaging(s.layout.root, claim, s.now()).catch(async (err) => {
              await fs.rm(claim, { recursive: true, force: true }).catch(() => undefined);
              throw err;
          })
        : claim;
    const archive = path.join(dir, name);
    const temp = tempPathFor(archive);
    try {
        const manifest = await stageFiles(s, staging, name, started, Boolean(options.preRestore), recipients !== null);
        // Who made it (authenticity.ts): the manifest's MAC, beside it in the archive.
        const auth = await authenticatorFor(s.layout.root, await fs.readFile(path.join(staging, MANIFEST_NAME)));
        await fs.writeFile(path.join(staging, AUTH_NAME), auth.entry, { mode: 0o600 });
        // A recovery key made before backups carried an authenticator cannot vouch for them on a new card.
        const authWarnings =
            recipients && auth.kind === 'boat'
                ? ['the recovery key was made before backups carried an authenticator, so a recovery onto a new card would refuse this backup; make a new recovery key']
                : [];
        const paths = [MANIFEST_NAME, AUTH_NAME, ...manifest.files.map((f) => f.path)];
        const { sha256, size } = await writeArchive(staging, paths, temp, recipients);
        // The checksum goes first: an archive under its final name always has one.
        await writeFileAtomic(sidecarOf(archive), sidecarLine(sha256, name), { mode: 0o600 });
        await fs.rename(temp, archive);
        await syncFolder(dir);
        const pruned = options.preRestore ? [] : await pruneBackups(dir, s.keep, s.now());
        return {
            success: true,
            backup: {
                name,
                size_bytes: size,
                created_at: manifest.timestamp,
                file_count: manifest.files.length,
                sha256,
                path: archive,
                installation_id: manifest.installation_id,
                tier: manifest.tier,
                items: manifest.items,
                pre_restore: manifest.pre_restore,
                encrypted: recipients !== null,
            },
            skipped: manifest.skipped,
            warnings: [...manifest.warnings, ...authWarnings],
            pruned,
        };
    } catch (err) {
        await fs.rm(temp, { force: true }).catch(() => undefined);
        if (!(await exists(archive))) await fs.rm(sidecarOf(archive), { force: true }).catch(() => undefined);
        if (isDiskFull(err)) throw driveFull(dir);
        if (err instanceof BoatDataError) throw err;
        throw new BoatDataError('BACKUP_FAILED', `the backup could not be made: ${errorMessage(err)}`, 500);
    } finally {
        await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
        stagingInUse.delete(path.resolve(staging));
        if (staging !== claim) await fs.rm(claim, { recursive: true, force: true }).catch(() => undefined);
    }
}

/**
 * Claims a name no other backup has, even within one second: the staging
 * folder is created exclusively, so two backups (in this process or
 * another) can never pick the same one.
 */
async function reserveName(dir: string, when: Date, preRestore: boolean, encrypted: boolean): Promise<{ name: string; staging: string }> {
    for (let sequence = 1; sequence < 10000; sequence++) {
        const name = backupName(when, sequence, preRestore, encrypted);
        const staging = path.join(dir, `.staging-${baseName(name)}`);
        try {
            await fs.mkdir(staging, { mode: 0o700 });
        } catch (err) {
            if (errorCode(err) === 'EEXIST') continue;
            if (isDiskFull(err)) throw driveFull(dir);
            throw err;
        }
        const other = backupName(when, sequence, preRestore, !encrypted);
        if ((await exists(path.join(dir, name))) || (await exists(sidecarOf(path.join(dir, name)))) || (await exists(path.join(dir, other)))) {
            await fs.rm(staging, { recursive: true, force: true });
            continue;
        }
        return { name, staging };
    }
    throw new BoatDataError('BACKUP_FAILED', `no free backup name is left for ${when.toISOString()}`, 500);
}

async function stageFiles(s: ResolvedSettings, staging: string, name: string, started: Date, preRestore: boolean, withSecrets = false): Promise<Manifest> {
    const warnings: string[] = [];
    let license: License | null = null;
    try {
        license = await readLicense(s.layout.license);
    } catch (err) {
        warnings.push(`license.json could not be read (${errorMessage(err)}); the backup does not record the installation id`);
    }
    // An encrypted backup is complete: secret files in, no placeholders.
    const needles = withSecrets ? [] : secretNeedles(await readBackupSecretRefs(s.layout, s.flowsFile));
    const { files: sources, skipped } = await findBackupSources(s, withSecrets);
    const files: ManifestFile[] = [];

    for (const source of sources) {
        const staged = path.join(staging, ...source.archivePath.split('/'));
        await fs.mkdir(path.dirname(staged), { recursive: true, mode: 0o700 });
        try {
            const entry = source.kind === 'database' ? await stageDatabase(source, staged, needles) : await stageFile(source, staged, needles);
            if (entry) files.push(entry);
            else {
                skipped.push({ item: 'file', path: source.archivePath, reason: 'holds a secret that could not be removed, so it was left out' });
                warnings.push(`${source.archivePath} was left out: it holds a secret value that could not be removed`);
            }
        } catch (err) {
            if (isDiskFull(err)) throw err;
            await fs.rm(staged, { force: true }).catch(() => undefined);
            if (errorCode(err) === 'ENOENT') {
                skipped.push({ item: source.kind, path: source.archivePath, reason: 'disappeared while the backup was made' });
                continue;
            }
            skipped.push({ item: source.kind, path: source.archivePath, reason: errorMessage(err) });
            warnings.push(`${source.archivePath} is not in this backup: ${errorMessage(err)}`);
        }
    }

    const head = {
        format_version: FORMAT_VERSION,
        name: baseName(name),
        timestamp: started.toISOString(),
        d3kos_version: s.version ?? (typeof license?.version === 'string' ? license.version : null),
        installation_id: license?.installation_id ?? null,
        tier: license?.tier ?? null,
        pre_restore: preRestore,
        skipped,
        warnings,
    };
    const readme = path.join(staging, README_NAME);
    const readme0 = readmeText({ ...head, items: itemCounts(files) });
    const readmeBytes = Buffer.from(withSecrets ? encryptedReadme(readme0) : readme0);
    await fs.writeFile(readme, readmeBytes, { mode: 0o600 });
    files.unshift(manifestEntry(README_NAME, 'file', { sha256: crypto.createHash('sha256').update(readmeBytes).digest('hex'), size: readmeBytes.length }, 0o600, []));
    const manifest: Manifest = {
        ...head,
        items: itemCounts(files.filter((f) => f.category !== 'readme')),
        total_size_bytes: files.reduce((sum, f) => sum + f.size, 0),
        files,
    };
    await fs.writeFile(path.join(staging, MANIFEST_NAME), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
    return manifest;
}

async function stageDatabase(source: SourceFile, staged: string, needles: SecretNeedle[]): Promise<ManifestFile | null> {
    await snapshotDatabase(source.source, staged);
    let scanned = await hashAndScan(staged, needles);
    const refs = scanned.found;
    if (refs.length > 0) {
        const pairs = needles.filter((n) => refs.includes(n.ref)).map((n) => [n.bytes.toString(), n.placeholder.toString()] as [string, string]);
        await replaceInDatabase(staged, pairs);
        scanned = await hashAndScan(staged, needles);
        if (scanned.found.length > 0) {
            await fs.rm(staged, { force: true });
            return null;
        }
    }
    const mode = (await fs.stat(source.source)).mode & 0o777;
    await fs.chmod(staged, mode);
    return { ...manifestEntry(source.archivePath, 'database', scanned, mode, refs), rows: await tableRowCounts(staged) };
}

async function stageFile(source: SourceFile, staged: string, needles: SecretNeedle[]): Promise<ManifestFile | null> {
    const stat = await fs.stat(source.source);
    const mode = stat.mode & 0o777;
    if (stat.size <= IN_MEMORY_LIMIT) {
        const { data, refs } = replaceSecrets(await fs.readFile(source.source), needles);
        await fs.writeFile(staged, data, { mode });
        await fs.chmod(staged, mode);
        return manifestEntry(source.archivePath, 'file', { sha256: crypto.createHash('sha256').update(data).digest('hex'), size: data.length }, mode, refs);
    }
    await fs.copyFile(source.source, staged);
    const scanned = await hashAndScan(staged, needles);
    if (scanned.found.length > 0) {
        await fs.rm(staged, { force: true });
        return null;
    }
    await fs.chmod(staged, mode);
    return manifestEntry(source.archivePath, 'file', scanned, mode, []);
}

function manifestEntry(archivePath: string, kind: 'file' | 'database', hashed: { sha256: string; size: number }, mode: number, refs: string[]): ManifestFile {
    return {
        path: archivePath,
        size: hashed.size,
        sha256: hashed.sha256,
        mode: '0' + mode.toString(8).padStart(3, '0'),
        kind,
        category: categoryOf(archivePath),
        ...(refs.length > 0 ? { secret_placeholders: refs } : {}),
    };
}

/** One read of a file: its sha256, its size and which secrets it holds. */
async function hashAndScan(file: string, needles: SecretNeedle[]): Promise<{ sha256: string; size: number; found: string[] }> {
    const hash = crypto.createHash('sha256');
    const scanner = new SecretScanner(needles);
    let size = 0;
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
        scanner.update(chunk as Buffer);
        size += (chunk as Buffer).length;
    }
    return { sha256: hash.digest('hex'), size, found: [...scanner.found].sort() };
}
