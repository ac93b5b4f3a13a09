import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode } from '../errors';
import { syncFolder, tempPathFor, writeJsonAtomic } from '../files/atomic';
import { SQLITE_SIDE_FILES } from './snapshot';

/**
 * A restore's intent, written (atomically, fsynced) before it changes
 * anything, so a restore cut off by a power cut or a SIGKILL is finished
 * at the next start rather than left half done (interrupted.ts). Phase
 * `staging`: nothing live was touched yet. Phase `swapping`: the safety
 * backup exists and every staged file is on the disk; each file put in
 * place is then appended to the `.done` list, fsynced.
 */
export interface JournalItem {
    path: string;
    target: string;
    base: string;
    staged: string;
    kind: 'file' | 'database';
    mode: string;
}

export interface RestoreJournal {
    version: 1;
    backup: string;
    staging: string;
    phase: 'staging' | 'swapping';
    safety_backup: string | null;
    /** This restore puts a safety backup back because an interrupted restore could not be completed. */
    rolls_back: string | null;
    started_at: string;
    items: JournalItem[];
}

const journalFile = (root: string) => path.join(root, '.d3kos-restore-journal.json');
const doneFile = (root: string) => `${journalFile(root)}.done`;

export async function writeJournal(root: string, journal: RestoreJournal): Promise<void> {
    // A new restore starts a new list: one left by an earlier restore never settled must not count for this one.
    if (journal.phase === 'staging') await fs.rm(doneFile(root), { force: true });
    await writeJsonAtomic(journalFile(root), journal, { mode: 0o600 });
}

export async function readJournal(root: string): Promise<RestoreJournal | null> {
    let text: string;
    try {
        text = await fs.readFile(journalFile(root), 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return null;
        throw err;
    }
    const value = JSON.parse(text) as RestoreJournal;
    if (value?.version !== 1 || !Array.isArray(value.items) || typeof value.staging !== 'string') throw new Error('the restore journal is not one this version wrote');
    return value;
}

/** The files already in place, one path a line. */
export async function readDone(root: string): Promise<Set<string>> {
    const text = await fs.readFile(doneFile(root), 'utf8').catch(() => '');
    return new Set(text.split('\n').filter((l) => l !== ''));
}

/** The `.done` list, appended to and fsynced as each file goes in place. */
export async function openDone(root: string): Promise<{ mark(p: string): Promise<void>; close(): Promise<void> }> {
    const handle = await fs.open(doneFile(root), 'a', 0o600);
    return {
        async mark(p: string) {
            await handle.write(`${p}\n`);
            await handle.datasync();
        },
        close: () => handle.close(),
    };
}

/** The restore is over (finished or put right): the journal goes, the `.done` list after it. */
export async function clearJournal(root: string): Promise<void> {
    await fs.rm(journalFile(root), { force: true });
    await syncFolder(root);
    await fs.rm(doneFile(root), { force: true });
}

/**
 * Permission bits a restored file gets: read and write as the backup says,
 * never execute (no file a backup holds is a program, and a crafted
 * manifest must not plant one).
 */
export function restoredMode(mode: string): number {
    return parseInt(mode, 8) & 0o666;
}

/**
 * One staged file into place by a rename, so a power cut leaves it old or
 * new. A database's -wal/-shm/-journal go first: left beside the restored
 * file, SQLite would replay the old log into it.
 */
export async function swapIntoPlace(item: Pick<JournalItem, 'staged' | 'kind' | 'mode'>, target: string): Promise<void> {
    if (item.kind === 'database') {
        for (const suffix of SQLITE_SIDE_FILES) await fs.rm(target + suffix, { force: true });
    }
    try {
        await fs.rename(item.staged, target);
    } catch (err) {
        if (errorCode(err) !== 'EXDEV') throw err;
        // Another file system (Node-RED's or Signal K's home): copy beside the target, then rename there.
        const temp = tempPathFor(target);
        try {
            await fs.copyFile(item.staged, temp);
            const handle = await fs.open(temp, 'r+');
            await handle.sync().finally(() => handle.close());
            await fs.chmod(temp, restoredMode(item.mode));
            await fs.rename(temp, target);
            await fs.rm(item.staged, { force: true });
        } catch (inner) {
            await fs.rm(temp, { force: true }).catch(() => undefined);
            throw inner;
        }
    }
}
