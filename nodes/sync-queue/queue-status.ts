import type { QueueSnapshot } from '../../lib/queue/snapshot';
import type { UntrustedExport } from '../../lib/queue/orphans';
import * as path from 'path';
import type { BlockedBecause, WorkerState } from '../../lib/upload/worker';
import { ShoreLink, shoreLink } from '../../lib/status/shore-link';

/** The `status` answer, and what output 3 carries on every change: the queue plus what the worker knows. */
export interface QueueStatus extends QueueSnapshot, WorkerState {
    queue_file_problem: string | null;
    /** Export files in no queue entry that could not be trusted to upload: the owner's to look at (names only). */
    untrusted_files: Array<{ file: string; reason: string }>;
    /** The link to the central database in the owner's words (the status strip of the helm page). */
    shore_link: ShoreLink;
}

const BLOCKED_KEYS: Record<BlockedBecause, string> = {
    'no-central-api': 'noCentral',
    'tier-too-low': 'tierTooLow',
    'license-unreadable': 'paused',
};

export function queueStatus(snapshot: QueueSnapshot, state: WorkerState, queueFileProblem: string | null, untrusted: UntrustedExport[] = [], pollMs = 60_000): QueueStatus {
    return {
        ...snapshot,
        ...state,
        queue_file_problem: queueFileProblem,
        untrusted_files: untrusted.map((u) => ({ file: path.basename(u.file), reason: u.reason })),
        shore_link: shoreLink(snapshot, state, pollMs),
    };
}

/** The node's status line, most pressing first: a message key of sync-queue.status and its values. */
export function describeStatus(s: QueueStatus): { kind: 'ok' | 'warn' | 'working'; key: string; values: Record<string, string | number> } {
    const values = { pending: s.pending_count, failed: s.failed_count, export: s.uploading ?? '' };
    if (s.queue_file_problem) return { kind: 'warn', key: 'queueFileSetAside', values };
    if (s.untrusted_files.length > 0) return { kind: 'warn', key: 'untrustedFiles', values: { ...values, count: s.untrusted_files.length } };
    if (s.uploading) return { kind: 'working', key: 'uploading', values };
    if (s.blocked_because) return { kind: 'warn', key: BLOCKED_KEYS[s.blocked_because], values };
    if (s.central_reachable === false && s.pending_count > 0) return { kind: 'warn', key: 'outOfReach', values };
    if (s.failed_count > 0) return { kind: 'warn', key: 'someFailed', values };
    if (s.pending_count > 0) return { kind: 'ok', key: 'pending', values };
    return { kind: 'ok', key: 'allUploaded', values };
}
