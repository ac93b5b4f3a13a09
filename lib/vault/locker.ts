import type { Lock, Locker, RequestRelease } from '@tus/server';
import type { Pool, PoolClient } from 'pg';
import { BoatDataError } from '../errors';

/**
 * The tus lockers of the vault: one request at a time on an upload (and on
 * a boat's quota, its finished copies and its erasure). Waiters queue and
 * are woken when the lock is handed over, never by polling: the tus
 * server's own in-memory locker retries every event-loop turn, and a
 * thousand waiting HEADs on one upload took a central to 1.5 GB.
 *
 * As the tus interface asks, a new request for a held lock asks the holder
 * to let go (`requestRelease`: tus ends the holder's request after a short
 * drain), so a resumed upload is not kept waiting by its own dropped
 * connection that the server has not noticed yet.
 */
export interface VaultLocker extends Locker {
    /** Holds `id` if nobody does, without waiting and without asking anyone to let go; null when it is held. */
    tryHold(id: string): Promise<(() => Promise<void>) | null>;
    close(): Promise<void>;
}

/** How long a request waits for a lock before it is told to try again. */
export const LOCK_WAIT_MS = 30000;

export function lockBusy(): BoatDataError {
    return new BoatDataError('VAULT_BUSY', 'another request on this upload is still under way; try again shortly', 503);
}

function aborted(): BoatDataError {
    return new BoatDataError('VAULT_ABORTED', 'the request ended while it waited for its turn', 400);
}

interface Waiter {
    granted: () => void;
    requestRelease: RequestRelease;
}

interface Held {
    requestRelease: RequestRelease;
    /** True once the holder has the lock everywhere (for the PostgreSQL locker: the advisory lock too). */
    everywhere: boolean;
    queue: Waiter[];
}

/** The locks of one Node-RED process: a holder and a queue per id. */
export class MemoryLocker implements VaultLocker {
    protected readonly held = new Map<string, Held>();

    constructor(protected readonly waitMs = LOCK_WAIT_MS) {}

    newLock(id: string): Lock {
        let mine: Held | undefined;
        return {
            lock: async (signal, requestRelease) => {
                mine = await this.take(id, signal, requestRelease);
                try {
                    await this.takeEverywhere(id, signal);
                    mine.everywhere = true;
                } catch (err) {
                    this.handOver(id);
                    throw err;
                }
            },
            unlock: async () => {
                if (!mine) return;
                mine = undefined;
                await this.releaseEverywhere(id);
                this.handOver(id);
            },
        };
    }

    async tryHold(id: string): Promise<(() => Promise<void>) | null> {
        if (this.held.has(id)) return null;
        this.held.set(id, { requestRelease: () => undefined, everywhere: false, queue: [] });
        if (!(await this.tryEverywhere(id))) {
            this.handOver(id);
            return null;
        }
        return async () => {
            await this.releaseEverywhere(id);
            this.handOver(id);
        };
    }

    async close(): Promise<void> {}

    /** The process-wide part: first in line for `id` in this process. */
    private take(id: string, signal: AbortSignal, requestRelease: RequestRelease): Promise<Held> {
        if (signal.aborted) return Promise.reject(aborted());
        const current = this.held.get(id);
        if (!current) {
            const held: Held = { requestRelease, everywhere: false, queue: [] };
            this.held.set(id, held);
            return Promise.resolve(held);
        }
        return new Promise<Held>((resolve, reject) => {
            const waiter: Waiter = {
                requestRelease,
                granted: () => {
                    done();
                    resolve(this.held.get(id)!);
                },
            };
            const giveUp = (err: Error) => {
                const queue = this.held.get(id)?.queue;
                const at = queue ? queue.indexOf(waiter) : -1;
                if (at >= 0) queue!.splice(at, 1);
                done();
                reject(err);
            };
            const onAbort = () => giveUp(aborted());
            const timer = setTimeout(() => giveUp(lockBusy()), this.waitMs);
            const done = () => {
                clearTimeout(timer);
                signal.removeEventListener('abort', onAbort);
            };
            signal.addEventListener('abort', onAbort, { once: true });
            current.queue.push(waiter);
            void Promise.resolve(current.requestRelease()).catch(() => undefined);
        });
    }

    /** The next in line gets the lock, or nobody holds it any more. */
    private handOver(id: string): void {
        const current = this.held.get(id);
        if (!current) return;
        const next = current.queue.shift();
        if (!next) {
            this.held.delete(id);
            return;
        }
        this.held.set(id, { requestRelease: next.requestRelease, everywhere: false, queue: current.queue });
        next.granted();
    }

    /** Asks this process's holder of `id` to let go, if it holds the lock everywhere (another instance waits for it). */
    protected askToRelease(id: string): void {
        const current = this.held.get(id);
        if (current?.everywhere) void Promise.resolve(current.requestRelease()).catch(() => undefined);
    }

    // One process: holding the lock here is holding it.
    protected async takeEverywhere(_id: string, _signal: AbortSignal): Promise<void> {}
    protected async tryEverywhere(_id: string): Promise<boolean> {
        return true;
    }
    protected async releaseEverywhere(_id: string): Promise<void> {}
}

const ignore = () => undefined;
const LOCK_CLASS = 0x0d3c7a; // The vault's advisory locks, apart from the ingest's.
const RELEASE_CHANNEL = 'd3kos_vault_release';

/**
 * The locks of every central instance on one PostgreSQL: first in line in
 * this process, then a transaction-scoped advisory lock, held on a
 * connection of its own until unlock (a crashed instance's locks go with
 * its connections). The database queues the waiters. A waiter asks the
 * other instances' holder to let go with a NOTIFY.
 */
export class PostgresLocker extends MemoryLocker {
    private readonly connections = new Map<string, PoolClient>();
    private listener: PoolClient | undefined;
    private closed = false;

    private constructor(
        private readonly pool: Pool,
        waitMs: number,
    ) {
        super(waitMs);
    }

    static async open(pool: Pool, waitMs = LOCK_WAIT_MS): Promise<PostgresLocker> {
        const locker = new PostgresLocker(pool, waitMs);
        await locker.listen();
        return locker;
    }

    /** The connection that hears other instances' requests to let go; made again after it was lost. */
    private async listen(): Promise<void> {
        if (this.listener || this.closed) return;
        const listener = await this.pool.connect();
        this.listener = listener;
        listener.on('notification', (note) => {
            if (note.channel === RELEASE_CHANNEL && note.payload) this.askToRelease(note.payload);
        });
        listener.on('error', (err) => {
            if (this.listener === listener) this.listener = undefined;
            listener.release(err);
        });
        try {
            await listener.query(`LISTEN ${RELEASE_CHANNEL}`);
        } catch (err) {
            if (this.listener === listener) this.listener = undefined;
            listener.release(err as Error);
            throw err;
        }
    }

    protected override async takeEverywhere(id: string, signal: AbortSignal): Promise<void> {
        // Lost with its connection (a database restart): heard again from now on; the locks work without it.
        if (!this.listener) void this.listen().catch(() => undefined);
        const client = await this.begin();
        const cancel = () => void this.pool.query('SELECT pg_cancel_backend($1)', [(client as unknown as { processID: number }).processID]).catch(() => undefined);
        signal.addEventListener('abort', cancel, { once: true });
        try {
            await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.waitMs))}`);
            const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS got', [LOCK_CLASS, id]);
            if (!rows[0].got) {
                await this.pool.query('SELECT pg_notify($1, $2)', [RELEASE_CHANNEL, id]);
                await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, id]);
            }
            this.connections.set(id, client);
        } catch (err) {
            await this.end(client, true);
            const code = (err as { code?: string }).code;
            if (signal.aborted || code === '57014') throw aborted();
            if (code === '55P03') throw lockBusy();
            throw new BoatDataError('VAULT_DATABASE', `the central database cannot hold the upload's lock: ${(err as Error).message}`, 503);
        } finally {
            signal.removeEventListener('abort', cancel);
        }
    }

    protected override async tryEverywhere(id: string): Promise<boolean> {
        const client = await this.begin();
        const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS got', [LOCK_CLASS, id]).catch(async (err) => {
            await this.end(client, true);
            throw err;
        });
        if (!rows[0].got) {
            await this.end(client, false);
            return false;
        }
        this.connections.set(id, client);
        return true;
    }

    protected override async releaseEverywhere(id: string): Promise<void> {
        const client = this.connections.get(id);
        this.connections.delete(id);
        if (client) await this.end(client, false);
    }

    override async close(): Promise<void> {
        this.closed = true;
        const listener = this.listener;
        this.listener = undefined;
        if (listener) {
            await listener.query(`UNLISTEN ${RELEASE_CHANNEL}`).catch(() => undefined);
            listener.release();
        }
        // The pool is the locker's own: it ends once the locks under way are given back.
        await this.pool.end().catch(() => undefined);
    }

    private async begin(): Promise<PoolClient> {
        const client = await this.pool.connect().catch((err: Error) => {
            throw new BoatDataError('VAULT_DATABASE', `the central database is out of reach (${err.message}); try again shortly`, 503);
        });
        // A connection lost while it holds a lock must not end Node-RED: the next statement on it fails instead.
        client.on('error', ignore);
        try {
            await client.query('BEGIN');
        } catch (err) {
            client.removeListener('error', ignore);
            client.release(err as Error);
            throw err;
        }
        return client;
    }

    /** The transaction ends and its advisory lock with it; a connection in doubt is thrown away, not reused. */
    private async end(client: PoolClient, failed: boolean): Promise<void> {
        try {
            await client.query(failed ? 'ROLLBACK' : 'COMMIT');
            client.removeListener('error', ignore);
            client.release();
        } catch (err) {
            client.removeListener('error', ignore);
            client.release(err as Error);
        }
    }
}
