import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode } from '../errors';
import { writeJsonAtomic } from '../files/atomic';

/**
 * What the off-boat copy remembers across power cuts, in
 * `<data root>/offboat/state.json` (a folder no backup takes: an old copy of
 * it restored would resend or forget): the owner's choice, the copy being
 * sent and the tus upload URL it is being sent to, so a restart resumes at
 * the byte the central side last wrote instead of starting over.
 */
export const OFFBOAT_MODES = ['off', 'every', 'weekly'] as const;
export type OffboatMode = (typeof OFFBOAT_MODES)[number];

export interface PendingCopy {
    name: string;
    size_bytes: number;
    sha256: string;
    queued_at: string;
    /** The tus upload this copy goes to, once the central side made one. */
    upload_url: string | null;
    /** Tries spent: only answers of a reachable central API count, never a link that is not there. */
    tries: number;
    last_error: string | null;
}

export interface OffboatState {
    mode: OffboatMode;
    pending: PendingCopy | null;
    last_sent: { name: string; sent_at: string; size_bytes: number; sha256: string } | null;
}

export function offboatDir(root: string): string {
    return path.join(root, 'offboat');
}

function stateFile(root: string): string {
    return path.join(offboatDir(root), 'state.json');
}

export function parseOffboatMode(value: unknown): OffboatMode {
    const text = typeof value === 'string' ? value.trim().toLowerCase() : value;
    if (OFFBOAT_MODES.includes(text as OffboatMode)) return text as OffboatMode;
    throw new BoatDataError('OFFBOAT_MODE_INVALID', `the off-boat copy takes mode "off", "every" (after every automatic backup) or "weekly", not ${JSON.stringify(value)}`, 400);
}

export async function readOffboatState(root: string): Promise<OffboatState> {
    let text: string;
    try {
        text = await fs.readFile(stateFile(root), 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return { mode: 'off', pending: null, last_sent: null };
        throw err;
    }
    try {
        const value = JSON.parse(text);
        return {
            mode: OFFBOAT_MODES.includes(value.mode) ? value.mode : 'off',
            pending: value.pending && typeof value.pending.name === 'string' ? value.pending : null,
            last_sent: value.last_sent ?? null,
        };
    } catch {
        // Written atomically, so only a hand edit gets here: start clean rather than stop sending.
        return { mode: 'off', pending: null, last_sent: null };
    }
}

/** One writer at a time per data root: each change reads, changes and writes the file atomically. */
const chains = new Map<string, Promise<unknown>>();

export function updateOffboatState<T>(root: string, change: (state: OffboatState) => T | Promise<T>): Promise<T> {
    const run = (chains.get(root) ?? Promise.resolve()).then(async () => {
        const state = await readOffboatState(root);
        const result = await change(state);
        await fs.mkdir(offboatDir(root), { recursive: true, mode: 0o700 });
        await writeJsonAtomic(stateFile(root), state, { mode: 0o600 });
        return result;
    });
    chains.set(
        root,
        run.catch(() => undefined),
    );
    return run;
}
