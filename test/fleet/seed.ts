import * as crypto from 'crypto';
import type { IngestStore } from '../../lib/ingest/store';

// Boats written into a real store as the ingest would, but with import times the test chooses: a boat silent
// for ten days is an import stored ten days ago, which no upload made now could be.

export interface SeededImport {
    installation_id: string;
    imported_at: string;
    exported_at?: string;
    /** Rows per category, e.g. { boatlog: 3 }; keys are the row numbers, so a later import of the same count updates them. */
    rows?: Record<string, number>;
    export_id?: string;
}

export async function seedImport(store: IngestStore, seed: SeededImport): Promise<void> {
    const exportId = seed.export_id ?? `export_${crypto.randomBytes(6).toString('hex')}`;
    const exportedAt = seed.exported_at ?? seed.imported_at;
    const rows = seed.rows ?? { boatlog: 2 };
    const session = await store.beginImport();
    const identity = { installation_id: seed.installation_id, export_id: exportId, export_timestamp: exportedAt };
    const prior = await session.claim(identity, exportedAt);
    if (prior) throw new Error(`${exportId} was imported already`);
    const stored = Object.entries(rows).flatMap(([category, n]) => Array.from({ length: n }, (_, i) => ({ category, key: String(i + 1), entry: JSON.stringify({ id: i + 1, note: 'seeded' }) })));
    await session.writeRows(stored);
    const records = stored.length;
    await session.commit({
        header: { ...identity, format_version: '1.0', mode: 'incremental', tier: 2, records, categories: rows },
        import_id: `imp_${crypto.randomUUID()}`,
        imported_at: seed.imported_at,
        exported_at: exportedAt,
        body_bytes: 100 + records * 40,
    });
}

export const hoursAgo = (now: Date, hours: number): string => new Date(now.getTime() - hours * 3600000).toISOString();

/** A fresh installation_id that sorts where `prefix` puts it. */
export function boatId(prefix = ''): string {
    return (prefix + crypto.randomBytes(8).toString('hex')).slice(0, 16);
}
