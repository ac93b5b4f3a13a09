import type { BoatContact, ReportedBacklog } from './fleet-store';

/**
 * Silent-boat alerts with hysteresis. A boat not heard from for longer
 * than its threshold gives one `silent` alert; its next report gives one
 * `back`. A boat back for less than `steadyMs` is not announced silent
 * again until it has been back that long (if it is still silent then, the
 * alert comes then): a link that drops every hour gives one silent/back
 * pair a period, not one an hour.
 */
export interface WatchSettings {
    /** The fleet's threshold. */
    thresholdMs: number;
    /** Per boat: its own threshold, or null for never (a boat laid up for the winter). */
    thresholds: Map<string, number | null>;
    steadyMs: number;
}

/** What the watch remembers of a boat it announced; a boat not named is in good standing. */
export interface WatchedBoat {
    state: 'silent' | 'back';
    last_contact_at: string;
    /** silent: when it was announced; back: when it reported again. */
    since: string;
}

export interface WatchState {
    version: 1;
    boats: Record<string, WatchedBoat>;
}

export interface FleetAlert {
    event: 'silent' | 'back';
    installation_id: string;
    last_contact_at: string;
    /** silent: how long since the last contact; back: how long the boat was silent. */
    silent_hours: number;
    threshold_hours: number;
    backlog: ReportedBacklog | null;
    text: string;
}

export const emptyWatchState = (): WatchState => ({ version: 1, boats: {} });

/** The shortest threshold that can alert: boats heard from more recently than this need no look. */
export function shortestThreshold(settings: WatchSettings): number {
    let shortest = settings.thresholdMs;
    for (const ms of settings.thresholds.values()) if (ms !== null && ms < shortest) shortest = ms;
    return shortest;
}

/**
 * Judges the boats `contacts` names (those silent past the shortest threshold, and every boat the state
 * holds) at `now`: the alerts to send and the state to keep. A boat the state holds that is not among the
 * contacts is gone from the store (erased) and forgotten.
 */
export function judgeFleet(contacts: BoatContact[], previous: WatchState, now: Date, settings: WatchSettings): { alerts: FleetAlert[]; state: WatchState } {
    const alerts: FleetAlert[] = [];
    const boats: Record<string, WatchedBoat> = {};
    const at = now.getTime();
    for (const contact of contacts) {
        const id = contact.installation_id;
        const threshold = settings.thresholds.has(id) ? settings.thresholds.get(id)! : settings.thresholdMs;
        const before = previous.boats[id];
        if (threshold === null) continue;
        const lastContact = Date.parse(contact.last_import_at);
        const silentNow = at - lastContact > threshold;
        if (before?.state === 'silent') {
            if (lastContact > Date.parse(before.last_contact_at)) {
                alerts.push(alert('back', contact, Date.parse(before.last_contact_at), lastContact, threshold));
                boats[id] = { state: 'back', last_contact_at: contact.last_import_at, since: contact.last_import_at };
            } else boats[id] = before;
            continue;
        }
        const steady = !before || at - Date.parse(before.since) >= settings.steadyMs;
        if (silentNow && steady) {
            alerts.push(alert('silent', contact, lastContact, at, threshold));
            boats[id] = { state: 'silent', last_contact_at: contact.last_import_at, since: now.toISOString() };
        } else if (before && !steady) {
            boats[id] = { ...before, last_contact_at: contact.last_import_at };
        }
        // A boat back for steadyMs and reporting is in good standing again: forgotten.
    }
    return { alerts, state: { version: 1, boats } };
}

function alert(event: FleetAlert['event'], contact: BoatContact, from: number, to: number, threshold: number): FleetAlert {
    const silentHours = Math.round(((to - from) / 3600000) * 10) / 10;
    const thresholdHours = Math.round((threshold / 3600000) * 10) / 10;
    const last = shownTime(contact.last_import_at);
    const backlog = contact.backlog
        ? `it last reported ${contact.backlog.exports} export${contact.backlog.exports === 1 ? '' : 's'} (${shownBytes(contact.backlog.bytes)}) waiting, at ${shownTime(contact.backlog.reported_at)}`
        : 'it has reported no backlog';
    const text =
        event === 'silent'
            ? `Boat ${contact.installation_id} has been silent for ${shownSpan(silentHours)} (threshold ${thresholdHours} h): last contact ${last}; ${backlog}.`
            : `Boat ${contact.installation_id} reports again after ${shownSpan(silentHours)} of silence: last contact ${last}; ${backlog}.`;
    return { event, installation_id: contact.installation_id, last_contact_at: contact.last_import_at, silent_hours: silentHours, threshold_hours: thresholdHours, backlog: contact.backlog, text };
}

function shownSpan(hours: number): string {
    return hours >= 48 ? `${Math.floor(hours / 24)} days` : `${hours} h`;
}

function shownTime(iso: string): string {
    return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

function shownBytes(n: number): string {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${Math.round(n / 1024)} kB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
