import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorMessage } from '../errors';
import { checkCentral } from '../upload/central-api';
import { backupsIn } from '../backup/retention';
import { readSidecarHash } from './sidecar';
import { sendCopy, SendOutcome } from './send';
import { OffboatState, readOffboatState, updateOffboatState } from './state';
import type { BoatLink } from '../link/link';

/**
 * Sends the newest encrypted backup to the central vault, with the export
 * queue's promises: the job is in a durable state file (a power cut resumes
 * it, the tus upload URL included), no try is spent while the central API
 * is out of reach (its health endpoint is asked first, as the export upload
 * does), and a dropped link resumes where the central side stopped writing.
 * Only one copy waits at a time: a newer backup replaces an older one not
 * yet sent, since the newest is the one a recovery wants.
 */
export interface OffboatOptions {
    root: string;
    backupDir: () => string;
    centralUrl: () => string;
    token: () => Promise<string | null>;
    /** After this many tries refused by a reachable central side, the copy waits for the next backup. */
    maxTries?: number;
    onChange?: (state: OffboatState) => void;
    onProgress?: (sent: number, total: number) => void;
    /** Largest PATCH in bytes (send.ts); default none. */
    chunkSize?: number;
    /** The boat's link: its counted sockets, and whether backups may go over it. Absent: unmetered, uncounted. */
    link?: BoatLink;
}

export type RoundResult = { result: 'idle' } | { result: 'sent'; name: string } | { result: 'waiting'; reason: string; tryCounted: boolean } | { result: 'given_up'; reason: string };

export const DEFAULT_MAX_TRIES = 8;

export class OffboatWorker {
    private running: Promise<RoundResult> | null = null;
    private readonly abort = new AbortController();

    constructor(private readonly options: OffboatOptions) {}

    /** Puts the newest encrypted backup (or the one named) up to be sent. Answers its name, or null when there is none. */
    async queueNewest(name?: string): Promise<string | null> {
        const dir = this.options.backupDir();
        const encrypted = (await backupsIn(dir)).filter((b) => b.encrypted && !b.preRestore);
        const chosen = name ? encrypted.find((b) => b.name === name) : encrypted[encrypted.length - 1];
        if (!chosen) return null;
        const file = path.join(dir, chosen.name);
        const stat = await fs.stat(file);
        const sha256 = await readSidecarHash(file, chosen.name);
        const state = await updateOffboatState(this.options.root, (s) => {
            if (s.pending?.name === chosen.name || s.last_sent?.name === chosen.name) return s;
            s.pending = { name: chosen.name, size_bytes: stat.size, sha256, queued_at: new Date().toISOString(), upload_url: null, tries: 0, last_error: null };
            return s;
        });
        this.options.onChange?.(state);
        return chosen.name;
    }

    /** One round: send what waits, if the central API is there. Never two rounds at once. */
    process(): Promise<RoundResult> {
        this.running ??= this.round().finally(() => {
            this.running = null;
        });
        return this.running;
    }

    stop(): Promise<unknown> {
        this.abort.abort();
        return this.running ?? Promise.resolve();
    }

    private async round(): Promise<RoundResult> {
        const { root } = this.options;
        // Several attempts in a round: a link that drops every few hundred KB still gets the copy through.
        for (let attempt = 0; attempt < 10000; attempt++) {
            if (this.abort.signal.aborted) return { result: 'waiting', reason: 'Node-RED is stopping', tryCounted: false };
            const state = await readOffboatState(root);
            const pending = state.pending;
            if (!pending) return { result: 'idle' };
            const maxTries = this.options.maxTries ?? DEFAULT_MAX_TRIES;
            if (pending.tries >= maxTries) return { result: 'given_up', reason: pending.last_error ?? 'too many refusals' };
            const file = path.join(this.options.backupDir(), pending.name);
            if (
                !(await fs.stat(file).then(
                    (s) => s.isFile(),
                    () => false,
                ))
            ) {
                await this.update((s) => {
                    if (s.pending?.name === pending.name) s.pending = null;
                });
                return { result: 'waiting', reason: `${pending.name} is no longer in the backup folder; the next backup is sent instead`, tryCounted: false };
            }
            const centralUrl = this.options.centralUrl();
            const token = await this.options.token();
            if (!centralUrl || !token) return this.note(pending.name, 'no central API address or device token is set on this boat', false);
            const choice = await this.options.link?.choice();
            if (choice?.kind === 'metered' && !choice.allow_backups) {
                return this.note(pending.name, 'the link is metered: the off-boat copy waits for Wi-Fi (or for backups to be allowed over this link)', false);
            }
            const meter = this.options.link?.meter;
            const reach = await checkCentral(centralUrl, { signal: this.abort.signal, agents: meter ? { httpAgent: meter.httpAgent, httpsAgent: meter.httpsAgent } : undefined });
            if (!reach.reachable) return this.note(pending.name, reach.reason, false);

            const outcome: SendOutcome = await sendCopy({
                centralUrl,
                token,
                file,
                name: pending.name,
                sha256: pending.sha256,
                size: pending.size_bytes,
                uploadUrl: pending.upload_url,
                onUploadUrl: (url) =>
                    this.update((s) => {
                        if (s.pending?.name === pending.name) s.pending.upload_url = url;
                    }),
                onProgress: this.options.onProgress,
                signal: this.abort.signal,
                chunkSize: this.options.chunkSize,
                agent: meter ? (centralUrl.startsWith('https:') ? meter.httpsAgent : meter.httpAgent) : undefined,
            });
            if (outcome.kind === 'done') {
                await this.update((s) => {
                    if (s.pending?.name === pending.name) s.pending = null;
                    s.last_sent = { name: pending.name, sent_at: new Date().toISOString(), size_bytes: pending.size_bytes, sha256: pending.sha256 };
                });
                return { result: 'sent', name: pending.name };
            }
            if (outcome.kind === 'aborted') return { result: 'waiting', reason: 'Node-RED is stopping; the copy resumes at the next start', tryCounted: false };
            if (outcome.kind === 'dropped') {
                // The link went mid-upload: go on from where the central side stopped, unless it is now out of reach.
                continue;
            }
            // The central side refused. An upload it no longer knows (or a copy that arrived damaged) starts again from byte 0.
            const restart = [404, 410, 460].includes(outcome.status);
            await this.update((s) => {
                if (s.pending?.name !== pending.name) return;
                s.pending.tries += 1;
                s.pending.last_error = outcome.reason;
                if (restart) s.pending.upload_url = null;
            });
            if (!restart || pending.tries + 1 >= maxTries) return { result: 'waiting', reason: outcome.reason, tryCounted: true };
        }
        return { result: 'waiting', reason: 'the link kept dropping; the copy goes on at the next round', tryCounted: false };
    }

    private async note(name: string, reason: string, counted: boolean): Promise<RoundResult> {
        await this.update((s) => {
            if (s.pending?.name === name) s.pending.last_error = reason;
        });
        return { result: 'waiting', reason, tryCounted: counted };
    }

    private async update(change: (s: OffboatState) => void): Promise<void> {
        const state = await updateOffboatState(this.options.root, (s) => {
            change(s);
            return s;
        });
        this.options.onChange?.(state);
    }
}

export function describeError(err: unknown): string {
    return err instanceof BoatDataError ? err.message : errorMessage(err);
}
