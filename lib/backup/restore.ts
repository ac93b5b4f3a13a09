import { promises as fs } from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { BoatDataError, errorMessage } from '../errors';
import { syncFolder } from '../files/atomic';
import { ArchiveEntry, readArchive } from './archive';
import { hashFile } from '../files/hash';
import { createBackupUnlocked, CreatedBackup } from './create';
import { checkDataDiskRoom, isDiskFull, prepareBackupDir } from './drive';
import { checkEntryPath, checkEntryType } from './entries';
import { inspectArchive } from './inspect';
import { backupTrust } from './authenticity';
import { withBackupLock } from './lock';
import { backupIdentities, isEncryptedName } from './encryption';
import { ManifestFile } from './manifest';
import { resolveBackupFile, sidecarOf } from './names';
import { BackupSettings, resolveSettings, ResolvedSettings } from './options';
import { readBackupSecretRefs, restoreSecrets, placeholder } from './secrets';
import { replaceInDatabase } from './snapshot';
import { clearJournal, openDone, restoredMode, swapIntoPlace, writeJournal } from './restore-journal';
import { stagingInUse } from './staging-in-use';
import { restartsFor } from './services';
import { storedArchive } from './stored';
import { HeldDatabase } from './live-database';
import { resetWatermarks } from '../export/watermarks';
import { readLicenseObject, settleLicense, SettledLicense } from './restored-license';
import { checkFolder, prepareFolder, RestoreTarget, targetOf } from './targets';

export interface RestoreOptions {
    /** Keep this boat's installation_id in license.json (default), or take the one in the backup. */
    keepInstallationId?: boolean;
    /** Restore a backup that carries no authenticator (made before d3kOS checked who made a backup): the owner says it is theirs. */
    acceptUnauthenticated?: boolean;
    /** Told as the restore passes each point that changes the boat (for the interrupted-restore tests). */
    onStep?: (step: RestoreStep, detail?: string) => void | Promise<void>;
    /** This restore puts back the safety backup of an interrupted restore that could not be completed (interrupted.ts). */
    rollsBack?: string;
}

export type RestoreStep = 'staged' | 'swapping' | 'placed' | 'swapped';

export interface RestoreReport {
    success: true;
    /** The backup that was restored. */
    restored: string;
    /** Restore this one to undo the restore. */
    safety_backup: string;
    /** Just before the safety backup was taken: a row committed earlier is in it. */
    restore_started_at: string;
    /** When the last file was in place: a row committed later is kept. */
    restore_finished_at: string;
    /** The two promises above, in words. */
    restore_window: string;
    files_restored: number;
    files_changed: string[];
    files_unchanged: number;
    not_restored: Array<{ path: string; reason: string }>;
    /** Boat services that must be restarted (or the boat rebooted) to use the restored files. */
    restart_required: string[];
    installation_id: SettledLicense['installation_id'];
    /** The boat's tier and subscription stay its own; a backup never changes them. */
    license: SettledLicense['license'];
    /** Secrets the backup referred to that this boat does not have (to be entered again). */
    secrets_missing: string[];
    /** The export watermarks were cleared, so the next incremental export sends every row again (central keeps each once). */
    export_marks_reset: boolean;
    message: string;
}

/** Leftover restore staging folders older than this were abandoned by a power cut. */
const STALE_STAGING_MS = 12 * 60 * 60 * 1000;

export function restoreBackup(settings: BackupSettings, requested: unknown, options: RestoreOptions = {}): Promise<RestoreReport> {
    const s = resolveSettings(settings);
    return withBackupLock(s.layout.backupDir, () => restoreUnlocked(s, requested, options));
}

/** Leftover plaintext restore staging (secrets included) in the data root: removed at start, once no restore needs it. */
export async function removeRestoreStaging(root: string): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await fs.readdir(root).catch(() => [] as string[])) {
        if (!name.startsWith('.d3kos-restore-') || name.startsWith('.d3kos-restore-journal') || stagingInUse.has(path.join(root, name))) continue;
        await fs.rm(path.join(root, name), { recursive: true, force: true });
        removed.push(name);
    }
    return removed;
}

interface PlannedFile extends RestoreTarget {
    file: ManifestFile;
    staged: string;
}

export async function restoreUnlocked(s: ResolvedSettings, requested: unknown, options: RestoreOptions): Promise<RestoreReport> {
    await prepareBackupDir(s.layout.backupDir, s.requireMountedDrive, false);
    const { name, file: archive } = resolveBackupFile(s.layout.backupDir, requested);
    await storedArchive(s.layout.backupDir, name, archive);

    // 1. Prove the archive whole, harmless and made by this boat before anything is written.
    // An encrypted backup opens with the boat's key or a given recovery key (encryption.ts).
    const identities = isEncryptedName(name) ? await backupIdentities(s.layout.root, s.identities) : undefined;
    const trust = await backupTrust(s.layout.root, s.identities, options.acceptUnauthenticated === true);
    const { manifest } = await inspectArchive(archive, name, identities, trust).catch((err: unknown) => {
        throw err instanceof BoatDataError ? new BoatDataError(err.code, `${err.message}; nothing was restored`, err.statusCode) : err;
    });
    const root = path.resolve(s.layout.root);
    await fs.mkdir(root, { recursive: true });
    await removeStaleStaging(root, s.now());
    const notRestored: RestoreReport['not_restored'] = [];
    const staging = path.join(root, `.d3kos-restore-${Date.now()}-${crypto.randomBytes(3).toString('hex')}`);
    const plan: PlannedFile[] = [];
    for (const [i, file] of manifest.files.entries()) {
        const where = targetOf(file.path, s, identities !== undefined);
        if ('reason' in where) {
            if (where.reason) notRestored.push({ path: file.path, reason: where.reason });
            continue;
        }
        // Every folder on the way is checked on the disk before anything is written, so a refusal writes nothing.
        const unsafe = await checkFolder(where, s);
        if (unsafe) notRestored.push({ path: file.path, reason: unsafe });
        else plan.push({ file, ...where, staged: path.join(staging, `f${String(i).padStart(6, '0')}`) });
    }
    await checkDataDiskRoom(
        root,
        plan.reduce((sum, p) => sum + p.file.size, 0),
        'the restore',
        'nothing was restored',
    );

    await fs.mkdir(staging, { mode: 0o700 });
    stagingInUse.add(staging);
    // The intent first (restore-journal.ts): a restore cut off from here on is finished or undone at the next start.
    const journal = {
        version: 1 as const,
        backup: name,
        staging,
        phase: 'staging' as 'staging' | 'swapping',
        safety_backup: null as string | null,
        rolls_back: options.rollsBack ?? null,
        started_at: s.now().toISOString(),
        items: plan.map((p) => ({ path: p.file.path, target: p.target, base: p.base, staged: p.staged, kind: p.file.kind, mode: p.file.mode })),
    };
    // Cleared when the restore ends, or stops before it changed anything; a stop mid-swap leaves it for the next start.
    let clearOnError = true;
    try {
        await writeJournal(root, journal);
        // 2. Stage every file on the data disk, checked again as it is written; nothing live is touched yet.
        await stage(archive, name, plan, identities);
        const secretsMissing = await putSecretsBack(s, plan);
        const license = await putLicenseTogether(s, plan, manifest.installation_id, options.keepInstallationId !== false);
        await syncFolder(staging);
        await options.onStep?.('staged');

        // 3. A safety backup of the boat as it is now, so this restore can be undone. Taken only now, with
        // the live databases held: other writers wait from here until their database is restored, so every
        // row they commit is either in the safety backup or in the restored database.
        const { safety, startedAt, held } = await safetyBackupHolding(s, plan);
        // Every staged file is on the disk and the safety backup made: from here a cut-off restore is completed.
        await writeJournal(root, { ...journal, phase: 'swapping', safety_backup: safety.name }).catch(async (err) => {
            for (const live of held.values()) await live.release().catch(() => undefined);
            throw err;
        });
        clearOnError = false;
        await options.onStep?.('swapping');
        const progress = await openDone(root);

        // 4. Into place, databases first: each copied into its live file by SQLite (writers waiting on it then
        // write into the restored database); every other file by a rename, so a power cut leaves it old or new.
        const changed: string[] = [];
        let unchanged = 0;
        const touched = new Set<string>();
        let restored = 0;
        const ordered = [...plan.filter((p) => p.file.kind === 'database'), ...plan.filter((p) => p.file.kind !== 'database')];
        try {
            for (const item of ordered) {
                let target: string;
                try {
                    // Checked again as the folders are made: a link put there since the first check is not followed either.
                    const ready = await prepareFolder(item, s);
                    if ('reason' in ready) {
                        notRestored.push({ path: item.file.path, reason: ready.reason });
                        await progress.mark(item.file.path);
                        continue;
                    }
                    target = ready.target;
                    restored++;
                    const live = held.get(item);
                    if (live) {
                        held.delete(item);
                        await live.copy();
                    } else {
                        const stagedHash = (await hashFile(item.staged)).sha256;
                        if (item.file.kind === 'file' && (await sameContent(target, stagedHash))) {
                            unchanged++;
                            await progress.mark(item.file.path);
                            continue;
                        }
                        await swapIntoPlace({ staged: item.staged, kind: item.file.kind, mode: item.file.mode }, target);
                    }
                    await progress.mark(item.file.path);
                    await options.onStep?.('placed', item.file.path);
                } catch (err) {
                    const done = changed.length;
                    if (isDiskFull(err))
                        throw new BoatDataError(
                            'DISK_FULL',
                            `the disk holding ${item.target} is full; the restore stopped after ${done} of ${plan.length} files. Restore ${safety.name} to go back`,
                            507,
                        );
                    throw new BoatDataError(
                        'RESTORE_INCOMPLETE',
                        `the restore stopped at ${item.file.path} after ${done} of ${plan.length} files (${errorMessage(err)}). Restore ${safety.name} to go back`,
                        500,
                    );
                }
                changed.push(item.file.path);
                touched.add(path.dirname(target));
            }
        } finally {
            for (const live of held.values()) await live.release().catch(() => undefined);
            await progress.close();
        }
        for (const dir of touched) await syncFolder(dir);
        await options.onStep?.('swapped');
        const finishedAt = s.now();
        // The data went back in time: new rows reuse rowids below what central acknowledged, so the marks start again.
        const dataChanged = ordered.some((p) => p.file.kind === 'database' && changed.includes(p.file.path)) || changed.some((p) => p.startsWith('data/'));
        const marksReset = dataChanged && (await resetWatermarks(s.layout.watermarksFile, finishedAt)) !== null;
        await clearJournal(root);

        const services = restartsFor(changed);
        return {
            success: true,
            restored: name,
            safety_backup: safety.name,
            restore_started_at: startedAt.toISOString(),
            restore_finished_at: finishedAt.toISOString(),
            restore_window: `rows the boat's services committed before ${startedAt.toISOString()} are in ${safety.name}; rows committed after ${finishedAt.toISOString()} are kept in the restored databases; writers in between waited for the restore of their database and their rows are kept there too`,
            files_restored: restored,
            files_changed: changed,
            files_unchanged: unchanged,
            not_restored: notRestored,
            restart_required: services,
            installation_id: license.installation_id,
            license: license.license,
            secrets_missing: secretsMissing,
            export_marks_reset: marksReset,
            message: summary(name, changed.length, services, [license.installation_id.note, license.license.note], safety.name, secretsMissing, notRestored.length),
        };
    } catch (err) {
        if (clearOnError) await clearJournal(root).catch(() => undefined);
        if (err instanceof BoatDataError) throw err;
        if (isDiskFull(err)) {
            throw new BoatDataError('DISK_FULL', `the boat's data disk (${root}) is full; nothing was restored`, 507);
        }
        throw new BoatDataError('RESTORE_FAILED', `backup ${name} could not be restored: ${errorMessage(err)}; nothing was restored`, 500);
    } finally {
        await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
        stagingInUse.delete(staging);
    }
}

/** Tries of the safety backup when another writer slips in between the hold and the copy. */
const HOLD_ATTEMPTS = 3;

/**
 * Holds every live database the restore replaces, takes the safety backup,
 * then locks each for its copy (see HeldDatabase). If a writer committed
 * in the instant between, that row is in neither place: the holds are let
 * go, the unused safety backup removed, and it starts again.
 */
async function safetyBackupHolding(s: ResolvedSettings, plan: PlannedFile[]): Promise<{ safety: CreatedBackup['backup']; startedAt: Date; held: Map<PlannedFile, HeldDatabase> }> {
    for (let attempt = 1; ; attempt++) {
        const startedAt = s.now();
        const held = new Map<PlannedFile, HeldDatabase>();
        let safety: CreatedBackup['backup'] | null = null;
        let ready = false;
        try {
            for (const item of plan.filter((p) => p.file.kind === 'database')) {
                const where = await prepareFolder(item, s);
                if ('reason' in where) continue;
                const live = await HeldDatabase.hold(where.target);
                if (live) held.set(item, live);
            }
            safety = (await createBackupUnlocked(s, { preRestore: true })).backup;
            const busy: string[] = [];
            for (const [item, live] of held) if (!(await live.lockForCopy(item.staged))) busy.push(item.file.path);
            if (busy.length === 0) {
                ready = true;
                return { safety, startedAt, held };
            }
            if (attempt >= HOLD_ATTEMPTS) {
                throw new BoatDataError(
                    'RESTORE_BUSY',
                    `another program kept writing to ${busy.join(', ')} at the moment of the restore, ${HOLD_ATTEMPTS} times; nothing was restored. Try again`,
                    503,
                );
            }
        } finally {
            if (!ready) {
                for (const live of held.values()) await live.release().catch(() => undefined);
                if (safety) {
                    const archive = path.join(s.layout.backupDir, safety.name);
                    await fs.rm(archive, { force: true });
                    await fs.rm(sidecarOf(archive), { force: true });
                }
            }
        }
    }
}

/** Second read of the archive: each planned file written to staging, fsynced, and its hash checked again. */
async function stage(archive: string, name: string, plan: PlannedFile[], identities?: string[]): Promise<void> {
    const byPath = new Map(plan.map((p) => [p.file.path, p]));
    const written = new Set<string>();
    try {
        await readArchive(
            archive,
            async (entry: ArchiveEntry) => {
                const type = String(entry.type);
                if (checkEntryType(type) || checkEntryPath(entry.path, type === 'Directory')) throw changedUnderUs(name);
                const item = type === 'Directory' ? undefined : byPath.get(entry.path);
                if (!item) {
                    entry.resume();
                    return;
                }
                if (written.has(entry.path)) throw changedUnderUs(name);
                written.add(entry.path);
                const handle = await fs.open(item.staged, 'wx', 0o600);
                const hash = crypto.createHash('sha256');
                try {
                    for await (const chunk of entry) {
                        hash.update(chunk as Buffer);
                        await handle.write(chunk as Buffer);
                    }
                    await handle.sync();
                } finally {
                    await handle.close();
                }
                if (hash.digest('hex') !== item.file.sha256) throw changedUnderUs(name);
                await fs.chmod(item.staged, restoredMode(item.file.mode));
            },
            identities,
        );
    } catch (err) {
        if (err instanceof BoatDataError || isDiskFull(err)) throw err;
        throw changedUnderUs(name, errorMessage(err));
    }
    if (written.size !== plan.length) throw changedUnderUs(name);
}

function changedUnderUs(name: string, detail?: string): BoatDataError {
    return new BoatDataError('BACKUP_DAMAGED', `backup ${name} changed while it was being restored${detail ? ` (${detail})` : ''}; nothing was restored`, 422);
}

/** Placeholders left where a secret was: the boat's current values go back in. */
async function putSecretsBack(s: ResolvedSettings, plan: PlannedFile[]): Promise<string[]> {
    // Files whose manifest names no placeholder may still hold one left unfilled by an earlier restore onto a new card.
    const withSecrets = plan.filter((p) => (p.file.secret_placeholders?.length ?? 0) > 0 || (p.file.kind === 'file' && p.file.size <= PLACEHOLDER_SCAN_LIMIT));
    if (withSecrets.length === 0) return [];
    const current = await readBackupSecretRefs(s.layout, s.flowsFile);
    const missing = new Set<string>();
    for (const item of withSecrets) {
        const refs = item.file.secret_placeholders ?? [];
        if (item.file.kind === 'database') {
            const byRef = new Map(current.map((r) => [r.ref, r.value]));
            const pairs: Array<[string, string]> = [];
            for (const ref of refs) {
                const value = byRef.get(ref);
                if (value === undefined) missing.add(ref);
                else pairs.push([placeholder(ref, false), value], [placeholder(ref, true), JSON.stringify(value).slice(1, -1)]);
            }
            await replaceInDatabase(item.staged, pairs);
        } else {
            const staged = await fs.readFile(item.staged);
            const found = staged.includes('[[d3kos-secret') ? current.map((r) => r.ref).filter((ref) => staged.includes(placeholder(ref, false)) || staged.includes(placeholder(ref, true))) : [];
            const all = [...new Set([...refs, ...found])];
            if (all.length === 0) continue;
            const { data, missing: gone } = restoreSecrets(staged, all, current);
            gone.forEach((ref) => missing.add(ref));
            await rewrite(item.staged, data);
        }
    }
    return [...missing].sort();
}

/** Plain files up to this size are looked through for placeholders a manifest does not name. */
const PLACEHOLDER_SCAN_LIMIT = 16 * 1024 * 1024;

/** The backup's license.json with this boat's installation id (unless asked otherwise) and entitlement. */
async function putLicenseTogether(s: ResolvedSettings, plan: PlannedFile[], manifestId: string | null, keepId: boolean): Promise<SettledLicense> {
    const current = await readLicenseObject(s.layout.license);
    const staged = plan.find((p) => p.target === path.resolve(s.layout.license));
    const settled = settleLicense(current, staged ? await readLicenseObject(staged.staged) : null, manifestId, keepId);
    if (staged && settled.text !== null) await rewrite(staged.staged, settled.text);
    return settled;
}

async function rewrite(file: string, data: string | Buffer): Promise<void> {
    const handle = await fs.open(file, 'w');
    try {
        await handle.writeFile(data);
        await handle.sync();
    } finally {
        await handle.close();
    }
}

async function sameContent(file: string, sha256: string): Promise<boolean> {
    try {
        return (await hashFile(file)).sha256 === sha256;
    } catch {
        return false;
    }
}

async function removeStaleStaging(root: string, now: Date): Promise<void> {
    for (const name of await fs.readdir(root).catch(() => [] as string[])) {
        if (!name.startsWith('.d3kos-restore-')) continue;
        const stat = await fs.stat(path.join(root, name)).catch(() => null);
        if (stat && now.getTime() - stat.mtimeMs > STALE_STAGING_MS) await fs.rm(path.join(root, name), { recursive: true, force: true });
    }
}

function summary(name: string, changed: number, services: string[], notes: string[], safety: string, secretsMissing: string[], left: number): string {
    const parts = [`Restored ${name}: ${changed} file(s) changed.`];
    if (left > 0) parts.push(`${left} file(s) of the backup were not restored; not_restored says why.`);
    if (services.length > 0) parts.push(`Restart ${services.join(', ')} (or reboot) so they use the restored data.`);
    if (services.includes('node-red')) parts.push("Restart Node-RED before deploying from the editor, or the editor's flows will overwrite the restored ones.");
    for (const note of notes) parts.push(note.charAt(0).toUpperCase() + note.slice(1) + '.');
    if (secretsMissing.length > 0) parts.push(`Enter these secrets again: ${secretsMissing.join(', ')}.`);
    parts.push(`To undo, restore ${safety}.`);
    return parts.join(' ');
}
