import { Pool } from 'pg';
import { BoatDataError, errorMessage } from '../errors';
import { describeUrl } from '../ingest/postgres-store';
import { checkDatabaseSetting } from '../ingest/store';
import { MemoryLocker, PostgresLocker, VaultLocker } from './locker';

/** Connections the vault's locks may hold at once: one per upload under way per instance, and the listener. */
const POOL_SIZE = 16;

export interface LockerSource {
    /** The locker, opened on first use; one that failed to open is tried afresh by the next request. */
    get(): Promise<VaultLocker>;
    close(): Promise<void>;
}

/**
 * The vault's locker for the ingest's database setting: in PostgreSQL for a
 * postgres:// URL (every instance on that database takes turns), in memory
 * for none (a SQLite central is one instance).
 */
export function lockerFor(database: string): LockerSource {
    const url = checkDatabaseSetting(database);
    if (!url) {
        const memory = Promise.resolve<VaultLocker>(new MemoryLocker());
        return { get: () => memory, close: async () => undefined };
    }
    let opening: Promise<VaultLocker> | undefined;
    let closed = false;
    const open = async (): Promise<VaultLocker> => {
        const pool = new Pool({ connectionString: url, max: POOL_SIZE, application_name: 'd3kos-backup-vault locks', idleTimeoutMillis: 30000, connectionTimeoutMillis: 10000 });
        // An idle connection the server drops is replaced on the next use; the error must not end Node-RED.
        pool.on('error', () => undefined);
        try {
            return await PostgresLocker.open(pool);
        } catch (err) {
            await pool.end().catch(() => undefined);
            throw new BoatDataError('VAULT_DATABASE', `the central database ${describeUrl(url)} cannot hold the vault's locks: ${errorMessage(err)}; try again shortly`, 503);
        }
    };
    return {
        get: () => {
            if (closed) return Promise.reject(new BoatDataError('VAULT_CLOSED', 'the backup vault is stopping; try again shortly', 503));
            if (!opening) {
                opening = open();
                opening.catch(() => (opening = undefined));
            }
            return opening;
        },
        close: async () => {
            closed = true;
            const locker = await opening?.catch(() => undefined);
            await locker?.close();
        },
    };
}
