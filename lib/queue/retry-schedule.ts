import { BoatDataError } from '../errors';

/** Attempt 1 at once, attempt 2 after 5 min, attempt 3 after 15 min, then the export is failed. */
export const DEFAULT_RETRY_SCHEDULE_S: readonly number[] = [0, 300, 900];

/** A Retry-After longer than this is a misconfigured server, not a reason to hold an export for weeks. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * "0,300,900": seconds before each attempt, counted from the one before (the
 * first from queueing). Its length is the number of tries. Empty means the
 * default, so an unset environment variable in the flow gives the default.
 */
export function parseRetrySchedule(text: string | undefined | null): number[] {
    const trimmed = (text ?? '').trim();
    if (trimmed === '') return [...DEFAULT_RETRY_SCHEDULE_S];
    const parts = trimmed.split(',').map((part) => part.trim());
    const seconds = parts.map(Number);
    if (parts.some((part) => part === '') || seconds.some((s) => !Number.isFinite(s) || s < 0)) {
        throw new BoatDataError('RETRY_SCHEDULE_INVALID', `The retry schedule "${trimmed}" is not a list of seconds; write it like "0,300,900" (at once, after 5 min, after 15 min)`, 400);
    }
    return seconds;
}

/**
 * When the next try is due after `triesUsed` failed ones, or null when every
 * try is used. A server's Retry-After is honoured by never going sooner.
 */
export function nextTryAt(schedule: readonly number[], triesUsed: number, now: Date, retryAfterMs?: number | null): Date | null {
    if (triesUsed >= schedule.length) return null;
    const waitMs = Math.max(schedule[triesUsed] * 1000, retryAfterMs ?? 0);
    return new Date(now.getTime() + waitMs);
}

/** Retry-After as HTTP allows it: delay seconds or an HTTP date. Nonsense gives null (the schedule decides). */
export function parseRetryAfter(value: unknown, now: Date): number | null {
    if (typeof value !== 'string' || value.trim() === '') return null;
    const text = value.trim();
    let ms: number;
    if (/^\d+$/.test(text)) ms = Number(text) * 1000;
    else {
        const at = Date.parse(text);
        if (Number.isNaN(at)) return null;
        ms = at - now.getTime();
    }
    return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
