import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode, errorMessage } from '../errors';
import { writeJsonAtomic } from '../files/atomic';
import type { CleanupReport } from './cleanup';

/** What the boat remembers of its last cleanup, so the dashboard can show it after a restart. */
export interface LastCleanup {
    at: string;
    trigger: string;
    deleted_count: number;
    freed_bytes: number;
    dry_run: boolean;
    usage_before_percent: number;
    usage_after_percent: number;
    level: CleanupReport['level'];
    stopped: boolean;
}

export function mediaStateFile(root: string): string {
    return path.join(root, 'state', 'media-cleanup.json');
}

export function lastCleanupOf(report: CleanupReport): LastCleanup {
    return {
        at: report.finished_at,
        trigger: report.trigger,
        deleted_count: report.deleted_count,
        freed_bytes: report.freed_bytes,
        dry_run: report.dry_run,
        usage_before_percent: report.usage_before_percent,
        usage_after_percent: report.usage_after_percent,
        level: report.level,
        stopped: report.stopped,
    };
}

/** Written atomically: a power cut leaves the previous record or this one, never a torn file. */
export async function recordCleanup(stateFile: string, report: CleanupReport): Promise<LastCleanup> {
    const last = lastCleanupOf(report);
    await writeJsonAtomic(stateFile, { version: 1, last_cleanup: last });
    return last;
}

/**
 * The last cleanup, or null when there has been none. A damaged record is
 * not worth failing a status for: it reads as none, with the reason, and the
 * next cleanup writes a good one.
 */
export async function readLastCleanup(stateFile: string): Promise<{ last: LastCleanup | null; problem?: string }> {
    let text: string;
    try {
        text = await fs.readFile(stateFile, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return { last: null };
        return { last: null, problem: `${stateFile} cannot be read: ${errorMessage(err)}` };
    }
    try {
        const last = JSON.parse(text)?.last_cleanup;
        if (last && typeof last === 'object' && typeof last.at === 'string') return { last: last as LastCleanup };
        return { last: null, problem: `${stateFile} holds no last_cleanup record` };
    } catch (err) {
        return { last: null, problem: `${stateFile} is not valid JSON (${errorMessage(err)})` };
    }
}
