import { promises as fs } from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { BoatDataError, errorMessage } from '../errors';
import { hashFile } from '../files/hash';
import { checkDataDiskRoom, prepareBackupDir } from './drive';
import { DrillResult, recordDrill } from './drill-results';
import { backupTrust } from './authenticity';
import { backupIdentities, isEncryptedName } from './encryption';
import { withBackupLock } from './lock';
import { Manifest } from './manifest';
import { resolveBackupFile } from './names';
import { BackupSettings, resolveSettings, ResolvedSettings } from './options';
import { backupsIn } from './retention';
import { integrityCheck, tableRowCounts } from './snapshot';
import { storedArchive } from './stored';
import { verifyInto } from './verify-into';

/**
 * A restore drill proves a backup restorable without touching the boat: the
 * archive is checked as a restore checks it, then every file is written into
 * a scratch folder on the data disk (where a real restore stages it), read
 * back against the manifest, and every database is opened, integrity
 * checked and its rows counted against what the backup recorded. The scratch
 * folder (which holds secrets for an encrypted backup) is removed after.
 */
const SCRATCH_PREFIX = '.d3kos-drill-';

export type DrillAnswer =
    | { success: true; name: string; status: 'proven'; proven_at: string; checked: { files: number; databases: number } }
    | { success: false; name: string; status: 'failed'; failed_at: string; error: string };

export function drillBackup(settings: BackupSettings, requested?: unknown): Promise<DrillAnswer> {
    const s = resolveSettings(settings);
    return withBackupLock(s.layout.backupDir, () => drillUnlocked(s, requested));
}

async function drillUnlocked(s: ResolvedSettings, requested: unknown): Promise<DrillAnswer> {
    const dir = s.layout.backupDir;
    await prepareBackupDir(dir, s.requireMountedDrive, false);
    const present = await backupsIn(dir);
    const wanted = requested === undefined || requested === null || requested === '' ? present.filter((b) => !b.preRestore).pop()?.name : requested;
    if (wanted === undefined) throw new BoatDataError('DRILL_NO_BACKUP', 'there is no backup to prove restorable yet: make a backup first', 404);
    const { name, file } = resolveBackupFile(dir, wanted);
    await storedArchive(dir, name, file);
    await removeLeftoverScratch(s.layout.root);

    let result: DrillResult;
    try {
        const checked = await prove(s, name, file);
        result = { status: 'proven', proven_at: s.now().toISOString(), ...checked };
    } catch (err) {
        // No room is no verdict on the backup: the drill did not run.
        if (err instanceof BoatDataError && err.code === 'DISK_FULL') throw err;
        result = { status: 'failed', failed_at: s.now().toISOString(), reason: errorMessage(err) };
    }
    await recordDrill(
        dir,
        name,
        result,
        present.map((b) => b.name),
    );
    if (result.status === 'proven') return { success: true, name, status: 'proven', proven_at: result.proven_at, checked: { files: result.files, databases: result.databases } };
    return { success: false, name, status: 'failed', failed_at: result.failed_at, error: result.reason };
}

async function prove(s: ResolvedSettings, name: string, archive: string): Promise<{ files: number; databases: number }> {
    const identities = isEncryptedName(name) ? await backupIdentities(s.layout.root, s.identities) : undefined;
    const trust = await backupTrust(s.layout.root, s.identities);
    const scratch = path.join(s.layout.root, `${SCRATCH_PREFIX}${Date.now()}-${crypto.randomBytes(3).toString('hex')}`);
    try {
        const { manifest } = await verifyInto(archive, name, scratch, identities, trust, ({ manifest }) =>
            checkDataDiskRoom(s.layout.root, manifest.total_size_bytes, 'the restore drill', 'the drill was not run'),
        );
        return await checkExtracted(manifest, scratch);
    } finally {
        await fs.rm(scratch, { recursive: true, force: true });
    }
}

async function checkExtracted(manifest: Manifest, scratch: string): Promise<{ files: number; databases: number }> {
    let databases = 0;
    for (const file of manifest.files) {
        const written = path.join(scratch, ...file.path.split('/'));
        const got = await hashFile(written).catch(() => null);
        if (!got) throw new BoatDataError('DRILL_FAILED', `${file.path} did not come out of the backup`, 422);
        if (got.sha256 !== file.sha256 || got.size !== file.size) {
            throw new BoatDataError('DRILL_FAILED', `${file.path} came out of the backup different from what its manifest says (${got.size} bytes, sha256 ${got.sha256.slice(0, 12)}…)`, 422);
        }
        if (file.kind !== 'database') continue;
        databases++;
        let verdict: string;
        try {
            verdict = await integrityCheck(written);
        } catch (err) {
            throw new BoatDataError('DRILL_FAILED', `${file.path} does not open as a database (${errorMessage(err)})`, 422);
        }
        if (verdict !== 'ok') throw new BoatDataError('DRILL_FAILED', `${file.path} fails SQLite's integrity check: ${verdict.slice(0, 200)}`, 422);
        if (!file.rows) continue;
        const counted = await tableRowCounts(written);
        for (const [table, rows] of Object.entries(file.rows)) {
            if (counted[table] !== rows) {
                throw new BoatDataError('DRILL_FAILED', `${file.path} holds ${counted[table] ?? 'no'} rows in ${table}, but the backup recorded ${rows}`, 422);
            }
        }
    }
    return { files: manifest.files.length, databases };
}

/** Scratch folders a power cut left during a drill: plain copies of the boat's files (secrets too), removed at once. */
export async function removeLeftoverScratch(root: string): Promise<void> {
    for (const entry of await fs.readdir(root).catch(() => [] as string[])) {
        if (entry.startsWith(SCRATCH_PREFIX)) await fs.rm(path.join(root, entry), { recursive: true, force: true }).catch(() => undefined);
    }
}
