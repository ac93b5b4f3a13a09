import * as crypto from 'crypto';
import { Client } from 'pg';
import { IngestStore, openStore } from '../../lib/ingest/store';

// The ingest's tests run once per kind of store. PostgreSQL needs D3KOS_TEST_DATABASE_URL (.ci/run starts a
// throwaway cluster with scripts/test-postgres.sh); each test gets a database of its own, dropped at the end.

export interface StoreKind {
    name: 'SQLite' | 'PostgreSQL';
    /** The ingest node's database setting for a fresh, empty database: '' for SQLite (the file in the data folder). */
    freshDatabase(): Promise<string>;
    open(dataDir: string, database: string): Promise<IngestStore>;
}

const adminUrl = process.env.D3KOS_TEST_DATABASE_URL ?? '';
const created: string[] = [];

const sqlite: StoreKind = {
    name: 'SQLite',
    freshDatabase: async () => '',
    open: (dataDir) => openStore(dataDir, ''),
};

const postgres: StoreKind = {
    name: 'PostgreSQL',
    async freshDatabase() {
        const name = `d3kos_t_${crypto.randomBytes(6).toString('hex')}`;
        const client = new Client({ connectionString: adminUrl });
        await client.connect();
        try {
            await client.query(`CREATE DATABASE ${name}`);
        } finally {
            await client.end();
        }
        created.push(name);
        const url = new URL(adminUrl);
        url.pathname = `/${name}`;
        return url.toString();
    },
    open: (dataDir, database) => openStore(dataDir, database),
};

/**
 * Runs `suite` once per store. Without D3KOS_TEST_DATABASE_URL the PostgreSQL run is skipped with a note,
 * except under CI (CI=true), where it fails: a CI machine that lost its database must not pass quietly.
 */
export function forEachStore(title: string, suite: (kind: StoreKind) => void): void {
    for (const kind of [sqlite, postgres]) {
        const name = `${title} (${kind.name})`;
        if (kind === postgres && !adminUrl) {
            if (process.env.CI === 'true') {
                describe(name, () => {
                    it('has a PostgreSQL to run on', () => {
                        throw new Error('D3KOS_TEST_DATABASE_URL is not set: CI must start PostgreSQL (scripts/test-postgres.sh start) before the ingest tests');
                    });
                });
            } else {
                describe.skip(`${name}: skipped, set D3KOS_TEST_DATABASE_URL (scripts/test-postgres.sh start) to run it`, () => suite(kind));
            }
            continue;
        }
        describe(name, function () {
            this.timeout(120000);
            suite(kind);
        });
    }
}

export const hasPostgres = (): boolean => adminUrl !== '';

/** Drops the databases the tests made (the cluster itself is thrown away by CI anyway). */
after(async function () {
    if (created.length === 0) return;
    this.timeout(60000);
    const client = new Client({ connectionString: adminUrl });
    await client.connect();
    try {
        for (const name of created.splice(0)) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
        await client.end();
    }
});
