import { promises as fs } from 'fs';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { writeJsonAtomic } from '../files/atomic';
import { emptyQueue, QUEUE_FORMAT_VERSION, QUEUE_LISTS, QueueEntry, QueueFile, readEntry } from './entries';

/** A queue file that could not be used as it was: kept under another name, never silently emptied. */
export interface SetAside {
    reason: string;
    kept_as: string;
}

export interface LoadedQueue {
    queue: QueueFile;
    setAside: SetAside | null;
}

/**
 * Loads export_queue.json in whatever state a crash, a power cut or the old
 * service left it. A missing file is an empty queue; `[]` (the old service
 * wrote that) is a queue of whatever entries the array holds; a file that is
 * not a queue at all is moved aside, so the boat keeps uploading with an
 * empty queue and the installer still has the old file to look at.
 */
export async function loadQueueFile(file: string, now = new Date()): Promise<LoadedQueue> {
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return { queue: emptyQueue(), setAside: null };
        throw new BoatDataError('QUEUE_UNREADABLE', `The upload queue ${file} could not be read (${errorMessage(err)}); nothing was changed`);
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (err) {
        const reason = text.trim() === '' ? 'the file is empty' : `it is not valid JSON (${errorMessage(err)})`;
        return { queue: emptyQueue(), setAside: await keepAside(file, reason, now, 'move') };
    }
    if (Array.isArray(parsed)) {
        const queue = emptyQueue();
        const { entries, dropped } = readEntries(parsed, 'pending', now);
        queue.pending = entries;
        const setAside = dropped > 0 ? await keepAside(file, `it held a list with ${dropped} item(s) that are not exports`, now, 'copy') : null;
        return { queue, setAside };
    }
    if (typeof parsed !== 'object' || parsed === null) {
        return { queue: emptyQueue(), setAside: await keepAside(file, `it holds ${JSON.stringify(parsed)} instead of a queue`, now, 'move') };
    }
    const raw = parsed as Record<string, unknown>;
    const queue = emptyQueue();
    queue.version = typeof raw.version === 'string' ? raw.version : QUEUE_FORMAT_VERSION;
    queue.last_updated = typeof raw.last_updated === 'string' ? raw.last_updated : null;
    queue.last_upload = typeof raw.last_upload === 'object' && raw.last_upload !== null ? (raw.last_upload as QueueFile['last_upload']) : null;
    let dropped = 0;
    for (const list of QUEUE_LISTS) {
        const items = raw[list];
        if (items === undefined) continue;
        if (!Array.isArray(items)) {
            dropped++;
            continue;
        }
        const read = readEntries(items, list, now);
        queue[list] = read.entries;
        dropped += read.dropped;
    }
    const setAside = dropped > 0 ? await keepAside(file, `${dropped} part(s) of it were not queue entries`, now, 'copy') : null;
    return { queue, setAside };
}

function readEntries(items: unknown[], list: QueueEntry['status'], now: Date): { entries: QueueEntry[]; dropped: number } {
    const entries: QueueEntry[] = [];
    for (const item of items) {
        const entry = readEntry(item, list, now);
        if (entry) entries.push(entry);
    }
    return { entries, dropped: items.length - entries.length };
}

/** Durable like every queue write; the field order is the deployed service's. */
export async function writeQueueFile(file: string, queue: QueueFile, now = new Date()): Promise<void> {
    queue.last_updated = now.toISOString();
    const { version, last_updated, pending, uploading, completed, failed, last_upload } = queue;
    await writeJsonAtomic(file, { version, last_updated, pending, uploading, completed, failed, last_upload });
}

/**
 * `<name>.unreadable-<time>` beside the original: a move when the original
 * is useless, a copy when the queue goes on from what could be read of it.
 */
async function keepAside(file: string, reason: string, now: Date, how: 'move' | 'copy'): Promise<SetAside> {
    const keptAs = `${file}.unreadable-${now.toISOString().replace(/[:.]/g, '-')}`;
    try {
        if (how === 'move') await fs.rename(file, keptAs);
        else await fs.copyFile(file, keptAs);
    } catch (err) {
        throw new BoatDataError('QUEUE_UNREADABLE', `The upload queue ${file} is damaged (${reason}) and could not be kept aside: ${errorMessage(err)}`);
    }
    return { reason: `The upload queue file was damaged (${reason}); it was kept as ${keptAs}`, kept_as: keptAs };
}
