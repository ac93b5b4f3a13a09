import { registeredVaults, VaultFacts } from '../central/vault-registry';
import { BoatDataError, errorMessage } from '../errors';
import { bearerToken } from '../ingest/access';
import { readDevices, readOperators } from '../ingest/access-lists';
import type { IngestStore } from '../ingest/store';
import type { FleetBoatRow, FleetCursor } from './fleet-store';

export const DEFAULT_BOATS_PAGE = 50;
export const MAX_BOATS_PAGE = 500;
export const DEFAULT_SILENT_HOURS = 48;

/**
 * Who may see the fleet page's data: an operator token of operators.json,
 * in either ingest mode. Open mode lets anyone upload and read for the
 * demo; it does not hand a stranger the list of every boat's id.
 */
export async function admitOperator(authorization: string | string[] | undefined, dataDir: string): Promise<void> {
    const token = bearerToken(authorization, 'operator token');
    if ((await readOperators(dataDir)).has(token)) return;
    if ((await readDevices(dataDir)).has(token)) throw new BoatDataError('INGEST_FORBIDDEN', 'the fleet page is for an operator token (operators.json), not a device token', 403);
    throw new BoatDataError('INGEST_UNAUTHORIZED', 'the token is not an operator token of this ingest (operators.json in its data folder)', 401);
}

export interface BoatVault extends VaultFacts {
    /** A vault that could not answer, named in words; the other vaults' figures still count. */
    problem?: string;
}

export interface FleetBoat extends FleetBoatRow {
    silent: boolean;
    vault: BoatVault | null;
}

export interface FleetBoatsAnswer {
    success: true;
    now: string;
    silent_hours: number;
    silent_since: string;
    total: number;
    silent: number;
    matching: number;
    count: number;
    boats: FleetBoat[];
    /** Pass as ?after= for the next page; absent on the last. */
    next_after?: string;
}

/**
 * GET /api/v1/fleet/boats?after=&limit=&q=&silent_hours=: a page of boats,
 * the longest silent first (by last contact, then installation_id), each
 * with its rows, refused imports, backlog and vault copies. One statement
 * per page whatever the fleet's size; `after` is the cursor the page before
 * answered, so page 200 costs what page 1 does.
 */
export async function fleetBoats(store: IngestStore, query: Record<string, unknown>, now = new Date()): Promise<FleetBoatsAnswer> {
    const limit = whole(query.limit, 'limit', 1, MAX_BOATS_PAGE, DEFAULT_BOATS_PAGE);
    const silentHours = whole(query.silent_hours, 'silent_hours', 1, 24 * 3650, DEFAULT_SILENT_HOURS);
    const prefix = searchPrefix(query.q);
    const after = cursorOf(query.after);
    const silentSince = new Date(now.getTime() - silentHours * 3600000).toISOString();
    const page = await store.fleetBoats({ after, limit, prefix, silentBefore: silentSince });
    const vaults = await vaultFacts(page.boats.map((b) => b.installation_id));
    const boats = page.boats.map((boat) => ({ ...boat, silent: boat.last_import_at < silentSince, vault: vaults.get(boat.installation_id) ?? null }));
    const last = boats[boats.length - 1];
    return {
        success: true,
        now: now.toISOString(),
        silent_hours: silentHours,
        silent_since: silentSince,
        total: page.total,
        silent: page.silent,
        matching: page.matching,
        count: boats.length,
        boats,
        ...(boats.length === limit && last ? { next_after: `${last.last_import_at}_${last.installation_id}` } : {}),
    };
}

/** Every registered vault's figures for these boats, added up; a vault that fails is named, not fatal. */
async function vaultFacts(ids: string[]): Promise<Map<string, BoatVault>> {
    const summed = new Map<string, BoatVault>();
    if (ids.length === 0) return summed;
    for (const vault of registeredVaults()) {
        let facts: Map<string, VaultFacts>;
        try {
            facts = await vault.factsFor(ids);
        } catch (err) {
            for (const id of ids) summed.set(id, { ...(summed.get(id) ?? empty()), problem: `a backup vault could not answer: ${errorMessage(err)}` });
            continue;
        }
        for (const [id, f] of facts) {
            const sum = summed.get(id) ?? empty();
            const newest = [sum.newest_received_at, f.newest_received_at].filter((t): t is string => t !== null).sort();
            summed.set(id, { ...sum, copies: sum.copies + f.copies, bytes: sum.bytes + f.bytes, damaged: sum.damaged + f.damaged, newest_received_at: newest[newest.length - 1] ?? null });
        }
    }
    return summed;
}

const empty = (): BoatVault => ({ copies: 0, bytes: 0, newest_received_at: null, damaged: 0 });

function searchPrefix(value: unknown): string | undefined {
    const text = value === undefined || value === null ? '' : String(value).trim().toLowerCase();
    if (text === '') return undefined;
    if (!/^[0-9a-f]{1,16}$/.test(text)) throw new BoatDataError('QUERY_INVALID', 'search by the start of an installation_id: up to 16 hexadecimal characters (0-9, a-f)', 400);
    return text;
}

/** `<last contact ISO>_<installation_id>`, as next_after gave it. */
function cursorOf(value: unknown): FleetCursor | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    const match = /^(\d{4}-\d{2}-\d{2}T[\d:.]+Z)_([0-9a-f]{16})$/.exec(String(value));
    if (!match) throw new BoatDataError('QUERY_INVALID', 'after must be the next_after of the page before', 400);
    return { last_import_at: match[1], installation_id: match[2] };
}

function whole(value: unknown, name: string, min: number, max: number, fallback: number): number {
    if (value === undefined || value === null || value === '') return fallback;
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new BoatDataError('QUERY_INVALID', `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`, 400);
    return n;
}
