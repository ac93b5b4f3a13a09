import type { QueueSnapshot } from '../queue/snapshot';
import type { WorkerState } from '../upload/worker';

/**
 * The link to the central database as the owner reads it at the helm: one
 * state, its reason in the owner's words (the technical text stays in the
 * queue status's central_problem), what waits and when it is tried next.
 */
export interface ShoreLink {
    state: 'connected' | 'out-of-reach' | 'token-refused' | 'not-set' | 'paused' | 'not-checked';
    reason: string | null;
    /** When the central database last confirmed an upload. */
    last_confirmed_at: string | null;
    last_checked_at: string | null;
    waiting_exports: number;
    waiting_bytes: number;
    /** The next upload round that will try the waiting exports; null when nothing waits or nothing can go. */
    next_try_at: string | null;
}

/** A refused upload names the central API's answer; 401 and 403 say the device token is not accepted. */
const TOKEN_REFUSED = /refused the export: 40[13]\b/;

export function shoreLink(snapshot: QueueSnapshot, state: WorkerState, pollMs: number, now = new Date()): ShoreLink {
    const lastConfirmed = snapshot.last_upload?.completed_at ?? null;
    const waiting = snapshot.waiting_exports;
    const base = { last_confirmed_at: lastConfirmed, last_checked_at: state.last_check_at, waiting_exports: waiting, waiting_bytes: snapshot.waiting_bytes };
    const nextTry = waiting === 0 ? null : nextRound(snapshot, state, pollMs, now);
    if (state.blocked_because === 'no-central-api') return { ...base, state: 'not-set', reason: 'no central server is set', next_try_at: null };
    if (state.blocked_because === 'tier-too-low') return { ...base, state: 'paused', reason: 'this boat’s tier does not include uploads', next_try_at: null };
    if (state.blocked_because === 'license-unreadable') return { ...base, state: 'paused', reason: 'this boat’s license cannot be read', next_try_at: null };
    const refused = newestFailure(snapshot);
    if (refused && TOKEN_REFUSED.test(refused.last_error ?? '') && (!lastConfirmed || (refused.failed_at ?? '') > lastConfirmed)) {
        return { ...base, state: 'token-refused', reason: 'this boat’s device token is refused', next_try_at: null };
    }
    if (state.central_reachable === false) return { ...base, state: 'out-of-reach', reason: outOfReachReason(state.central_problem), next_try_at: nextTry };
    if (state.central_reachable === true) return { ...base, state: 'connected', reason: null, next_try_at: nextTry };
    return { ...base, state: 'not-checked', reason: null, next_try_at: nextTry };
}

function outOfReachReason(problem: string | null): string {
    if (problem && /captive portal/.test(problem)) return 'a network page (a marina login?) answers instead of the central server';
    if (problem && /health check .* answered \d/.test(problem)) return 'the central server answers, but reports a fault';
    if (problem && /connection was lost during the upload/.test(problem)) return 'the connection was lost during an upload';
    return 'the central server does not answer';
}

function newestFailure(snapshot: QueueSnapshot) {
    return snapshot.items.failed.reduce<(typeof snapshot.items.failed)[number] | null>((newest, e) => (!newest || (e.failed_at ?? '') > (newest.failed_at ?? '') ? e : newest), null);
}

/** The due time of the next waiting export, or, when that is past, the next poll after the last check. */
function nextRound(snapshot: QueueSnapshot, state: WorkerState, pollMs: number, now: Date): string | null {
    const due = snapshot.next_pending?.next_retry_at ? Date.parse(snapshot.next_pending.next_retry_at) : NaN;
    if (Number.isFinite(due) && due > now.getTime()) return new Date(due).toISOString();
    const checked = state.last_check_at ? Date.parse(state.last_check_at) : now.getTime();
    const every = Math.max(pollMs, 1000);
    const missed = Math.max(0, Math.floor((now.getTime() - checked) / every));
    return new Date(checked + (missed + 1) * every).toISOString();
}
