import { promises as fs } from 'fs';
import * as path from 'path';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { writeJsonAtomic } from '../files/atomic';
import type { IngestStore } from '../ingest/store';
import type { BoatContact, FleetCursor } from './fleet-store';
import { emptyWatchState, FleetAlert, judgeFleet, shortestThreshold, WatchSettings, WatchState } from './watch';

/** Per-boat thresholds, in the ingest folder: `{"<installation_id>": <hours> | null}` (null: never alert). */
export const THRESHOLDS_FILE = 'silence-thresholds.json';
/** What the watch announced, in the ingest folder, so a restart neither repeats nor forgets an alert. */
export const WATCH_STATE_FILE = 'fleet-watch.json';

const CONTACTS_PAGE = 1000;

export interface WatchOptions {
    dataDir: string;
    thresholdHours: number;
    steadyHours: number;
}

/**
 * One check of the fleet at `now`: the boats past the shortest threshold and
 * those the watch holds, judged, the state saved, then the alerts answered.
 * The state is saved before anything is sent: a disk that cannot take it
 * fails the check (and says so) instead of repeating alerts every check.
 */
export async function checkFleet(store: IngestStore, options: WatchOptions, now = new Date()): Promise<{ alerts: FleetAlert[]; state: WatchState }> {
    const settings: WatchSettings = {
        thresholdMs: options.thresholdHours * 3600000,
        thresholds: await readThresholds(options.dataDir),
        steadyMs: options.steadyHours * 3600000,
    };
    const stateFile = path.join(options.dataDir, WATCH_STATE_FILE);
    const previous = await readState(stateFile);
    const contacts = await quietBoats(store, new Date(now.getTime() - shortestThreshold(settings)).toISOString());
    const seen = new Set(contacts.map((c) => c.installation_id));
    const held = Object.keys(previous.boats).filter((id) => !seen.has(id));
    for (let at = 0; at < held.length; at += CONTACTS_PAGE) contacts.push(...(await store.boatContactsOf(held.slice(at, at + CONTACTS_PAGE))));
    const judged = judgeFleet(contacts, previous, now, settings);
    try {
        await writeJsonAtomic(stateFile, judged.state);
    } catch (err) {
        throw new BoatDataError('FLEET_WATCH_STATE', `the fleet watch cannot save ${WATCH_STATE_FILE} in the ingest folder (${errorMessage(err)}); no alert was sent`, 500);
    }
    return judged;
}

async function quietBoats(store: IngestStore, before: string): Promise<BoatContact[]> {
    const all: BoatContact[] = [];
    let after: FleetCursor | undefined;
    for (;;) {
        const page = await store.boatContacts({ before, after, limit: CONTACTS_PAGE });
        all.push(...page);
        if (page.length < CONTACTS_PAGE) return all;
        const last = page[page.length - 1];
        after = { last_import_at: last.last_import_at, installation_id: last.installation_id };
    }
}

export async function readThresholds(dataDir: string): Promise<Map<string, number | null>> {
    const parsed = await readJson(path.join(dataDir, THRESHOLDS_FILE), THRESHOLDS_FILE);
    const thresholds = new Map<string, number | null>();
    if (parsed === undefined) return thresholds;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed('must hold {"<installation_id>": <hours> or null}');
    for (const [id, hours] of Object.entries(parsed)) {
        if (!INSTALLATION_ID_PATTERN.test(id)) throw malformed(`"${id.slice(0, 40)}" is not an installation_id (16 hexadecimal characters)`);
        if (hours !== null && (typeof hours !== 'number' || !(hours > 0))) throw malformed(`the threshold of ${id} must be a number of hours above 0, or null for never`);
        thresholds.set(id.toLowerCase(), hours === null ? null : hours * 3600000);
    }
    return thresholds;
}

async function readState(file: string): Promise<WatchState> {
    const parsed = (await readJson(file, WATCH_STATE_FILE)) as WatchState | undefined;
    if (parsed === undefined) return emptyWatchState();
    if (parsed?.version !== 1 || typeof parsed.boats !== 'object' || parsed.boats === null) {
        throw new BoatDataError('FLEET_WATCH_STATE', `${WATCH_STATE_FILE} in the ingest folder is not the fleet watch's state; move it aside and the watch starts afresh`, 500);
    }
    return parsed;
}

async function readJson(file: string, name: string): Promise<unknown> {
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return undefined;
        throw new BoatDataError('FLEET_WATCH_FILE', `${name} in the ingest folder cannot be read: ${errorMessage(err)}`, 500);
    }
    try {
        return JSON.parse(text);
    } catch {
        throw new BoatDataError('FLEET_WATCH_FILE', `${name} in the ingest folder is not valid JSON; fix it or move it aside`, 500);
    }
}

function malformed(problem: string): BoatDataError {
    return new BoatDataError('FLEET_WATCH_THRESHOLDS', `${THRESHOLDS_FILE} in the ingest folder ${problem}; no boat was judged until it is fixed`, 500);
}

/** Erasing a boat: the watch forgets it at once, rather than at its next check. */
export async function forgetWatchedBoat(dataDir: string, installationId: string): Promise<boolean> {
    const stateFile = path.join(dataDir, WATCH_STATE_FILE);
    const state = await readState(stateFile);
    if (!(installationId in state.boats)) return false;
    delete state.boats[installationId];
    await writeJsonAtomic(stateFile, state);
    return true;
}
