import { promises as fs } from 'fs';
import * as path from 'path';
import { errorMessage } from '../errors';
import { fileExists, syncFolder } from '../files/atomic';
import { resetWatermarks } from '../export/watermarks';
import { removePrivateStaging } from './encryption';
import { HeldDatabase } from './live-database';
import { withBackupLock } from './lock';
import { BackupSettings, resolveSettings, ResolvedSettings } from './options';
import { removeRestoreStaging, restoreUnlocked } from './restore';
import { clearJournal, JournalItem, readDone, readJournal, RestoreJournal, swapIntoPlace } from './restore-journal';
import { prepareFolder } from './targets';

export interface InterruptedRestore {
    outcome: 'completed' | 'rolled_back';
    backup: string;
    safety_backup: string | null;
    /** For /health and the log: begins with the words the page and scripts look for. */
    problem: string;
}

/**
 * At start, before the boat's other work touches the data: a restore a
 * power cut or a kill left unfinished (restore-journal.ts) is completed
 * from its staging when it had begun swapping and every file not yet in
 * place is still staged, and otherwise undone, so the boat is wholly the
 * backup or wholly as it was. Then the plaintext staging folders (they
 * hold secrets) go. Answers null when no restore was interrupted.
 */
export function finishInterruptedRestore(settings: BackupSettings): Promise<InterruptedRestore | null> {
    const s = resolveSettings(settings);
    const root = path.resolve(s.layout.root);
    return withBackupLock(s.layout.backupDir, async () => {
        const journal = await readJournal(root);
        const result = journal ? await settle(s, root, journal) : null;
        await removeRestoreStaging(root);
        await removePrivateStaging(root);
        return result;
    });
}

async function settle(s: ResolvedSettings, root: string, journal: RestoreJournal): Promise<InterruptedRestore> {
    const safety = journal.safety_backup;
    if (journal.phase === 'staging' && !journal.rolls_back) {
        await clearJournal(root);
        return {
            outcome: 'rolled_back',
            backup: journal.backup,
            safety_backup: safety,
            problem: `an interrupted restore was rolled back from the safety backup: the restore of ${journal.backup} stopped before it changed anything, so the boat is as it was; restore it again if you still want it`,
        };
    }
    if (journal.phase === 'swapping') {
        const missing = await completeFromStaging(s, root, journal);
        if (missing === null) {
            await clearJournal(root);
            if (journal.rolls_back) return rolledBack(journal.rolls_back, journal.backup);
            return {
                outcome: 'completed',
                backup: journal.backup,
                safety_backup: safety,
                problem: `an interrupted restore was completed from its staging: ${journal.backup} is wholly restored${safety ? `; to undo it, restore ${safety}` : ''}. Restart the boat's services (or reboot) so they use the restored data`,
            };
        }
        if (!safety) throw new Error(`the interrupted restore of ${journal.backup} cannot be completed (${missing}) and left no safety backup`);
    }
    // Cut off half-way and not completable (or cut off while undoing one): the safety backup goes back in, journalled itself.
    const origin = journal.rolls_back ?? journal.backup;
    const undo = journal.rolls_back ? journal.backup : safety!;
    await restoreUnlocked(s, undo, { rollsBack: origin });
    return rolledBack(origin, undo);
}

function rolledBack(origin: string, undo: string): InterruptedRestore {
    return {
        outcome: 'rolled_back',
        backup: origin,
        safety_backup: undo,
        problem: `an interrupted restore was rolled back from the safety backup: the restore of ${origin} stopped half-way, so ${undo} was put back and the boat is as it was before`,
    };
}

/** Puts every file not yet in place from the staging; answers null when done, or what is missing. */
async function completeFromStaging(s: ResolvedSettings, root: string, journal: RestoreJournal): Promise<string | null> {
    const done = await readDone(root);
    const todo = journal.items.filter((i) => !done.has(i.path));
    for (const item of todo) {
        // A renamed file left the staging: only databases (copied, not renamed) must still be there.
        if (item.kind === 'database' && !(await fileExists(item.staged))) return `${item.path} is no longer staged`;
    }
    const touched = new Set<string>();
    for (const item of todo) {
        if (!(await fileExists(item.staged))) continue;
        const ready = await prepareFolder({ target: item.target, base: item.base }, s);
        if ('reason' in ready) continue;
        try {
            await placeDatabaseOrFile(item, ready.target);
        } catch (err) {
            return `${item.path} could not be put in place (${errorMessage(err)})`;
        }
        touched.add(path.dirname(ready.target));
    }
    for (const dir of touched) await syncFolder(dir);
    if (journal.items.some((i) => i.kind === 'database' || i.path.startsWith('data/'))) await resetWatermarks(s.layout.watermarksFile, s.now());
    return null;
}

/** A live database by SQLite's copy (a service may already have it open), anything else by a rename. */
async function placeDatabaseOrFile(item: JournalItem, target: string): Promise<void> {
    if (item.kind === 'database') {
        for (let attempt = 0; attempt < 3; attempt++) {
            const live = await HeldDatabase.hold(target);
            if (!live) break;
            if (await live.lockForCopy(item.staged)) {
                await live.copy();
                await fs.rm(item.staged, { force: true });
                return;
            }
            await live.release();
        }
    }
    await swapIntoPlace(item, target);
}
