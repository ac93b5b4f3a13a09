import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode } from '../errors';
import { writeFileAtomic } from '../files/atomic';

/**
 * What the restore drills found, kept in the backup folder beside the
 * backups they speak of (a USB drive carries its own results with it):
 * `.d3kos-drills.json`, `{version, drills: {<backup name>: result}}`.
 * Results of backups no longer there are dropped at the next write.
 */
export const DRILLS_FILE = '.d3kos-drills.json';

export type DrillResult = { status: 'proven'; proven_at: string; files: number; databases: number } | { status: 'failed'; failed_at: string; reason: string };

/** How long a proof lasts before /health asks for a new one while automatic backups are on. */
export const PROOF_LASTS_DAYS = 14;
/** An automatic backup is drilled when no drill has run for this long. */
export const DRILL_EVERY_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;

export async function readDrills(backupDir: string): Promise<Record<string, DrillResult>> {
    let text: string;
    try {
        text = await fs.readFile(path.join(backupDir, DRILLS_FILE), 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return {};
        throw err;
    }
    try {
        const parsed = JSON.parse(text) as { drills?: Record<string, DrillResult> };
        return typeof parsed.drills === 'object' && parsed.drills !== null ? parsed.drills : {};
    } catch {
        // A damaged results file proves nothing; the next drill writes a new one.
        return {};
    }
}

export async function recordDrill(backupDir: string, name: string, result: DrillResult, present: string[]): Promise<void> {
    const drills = await readDrills(backupDir);
    drills[name] = result;
    const kept = Object.fromEntries(Object.entries(drills).filter(([n]) => present.includes(n)));
    await writeFileAtomic(path.join(backupDir, DRILLS_FILE), JSON.stringify({ version: 1, drills: kept }, null, 2) + '\n');
}

export function drillTime(result: DrillResult): string {
    return result.status === 'proven' ? result.proven_at : result.failed_at;
}

/** The newest time a drill ran on any of these backups, or null. */
export function lastDrillAt(drills: Record<string, DrillResult>): Date | null {
    const times = Object.values(drills).map((d) => Date.parse(drillTime(d)));
    return times.length > 0 ? new Date(Math.max(...times)) : null;
}

export function drillDue(drills: Record<string, DrillResult>, now: Date): boolean {
    const last = lastDrillAt(drills);
    return last === null || now.getTime() - last.getTime() >= DRILL_EVERY_DAYS * DAY_MS;
}

export interface DrilledBackup {
    name: string;
    created_at: string;
    kind: 'safety' | 'backup';
    drill: DrillResult | null;
}

/**
 * What /health says of the drills, in the owner's words, or null: the newest
 * backup failed its drill; or automatic backups are on, the boat has had
 * backups for longer than a proof lasts, and none was proven in that time.
 */
export function drillProblem(backups: DrilledBackup[], automatic: boolean, now: Date): string | null {
    const ordinary = backups.filter((b) => b.kind === 'backup');
    const newest = ordinary[0];
    if (newest?.drill?.status === 'failed') return `the newest backup failed its restore drill: ${newest.drill.reason}`;
    if (!automatic) return null;
    const since = now.getTime() - PROOF_LASTS_DAYS * DAY_MS;
    const oldest = ordinary[ordinary.length - 1];
    if (!oldest || Date.parse(oldest.created_at) > since) return null;
    const proven = ordinary.some((b) => b.drill?.status === 'proven' && Date.parse(b.drill.proven_at) > since);
    return proven ? null : `no backup has been proven restorable for ${PROOF_LASTS_DAYS} days`;
}
