import * as path from 'path';

/**
 * When each schedule of the boat runs next, told by the schedule nodes as
 * they set their timers and read by the status answers from memory. Keyed by
 * the schedule's "remember as" name under the boat's data root, so two boats
 * in one Node-RED hear only their own.
 */
const runs = new Map<string, string>();

export function announceNextRun(root: string, key: string, at: Date | null): void {
    const id = `${path.resolve(root)}\n${key}`;
    if (at === null) runs.delete(id);
    else runs.set(id, at.toISOString());
}

/** The next run of schedule `key` of the boat at `root`, or null when no such schedule runs. */
export function nextRunOf(root: string, key: string): string | null {
    return runs.get(`${path.resolve(root)}\n${key}`) ?? null;
}

/** "Tue 8 Dec 03:00" in the schedule's own time zone (the boat's local time when none is set): no day/month order to guess. */
export function formatRunTime(date: Date, timeZone: string): string {
    const parts = new Intl.DateTimeFormat('en-GB', {
        weekday: 'short',
        day: 'numeric',
        month: 'short',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
        timeZone: timeZone || undefined,
    }).formatToParts(date);
    const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
    return `${part('weekday')} ${part('day')} ${part('month')} ${part('hour')}:${part('minute')}`;
}
