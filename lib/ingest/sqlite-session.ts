import { Connection, Prepared } from './database';
import { ImportRecord, ImportSession, importedExportValues, PriorImport, StoredRow } from './store';
import type { ExportIdentity } from './validate';
import { KeyedTurns, Turns } from './writer-turns';

export const BATCH_ROWS = 500;
/** How long an import holds the writer at least before it lets a waiting one in: one commit (an fsync) per this. */
const MIN_HOLD_MS = 100;

export function upsertRowsSql(rows: number): string {
    const values = Array.from({ length: rows }, (_, i) => `(?1, ?${4 * i + 4}, ?${4 * i + 5}, ?${4 * i + 6}, ?${4 * i + 7}, ?2, ?3)`).join(', ');
    // An older export arriving late (a retry) never overwrites what a newer one stored.
    return `INSERT INTO category_rows (installation_id, category, row_key, entry, entry_bytes, export_id, exported_at)
        VALUES ${values}
        ON CONFLICT (installation_id, category, row_key) DO UPDATE
        SET entry = excluded.entry, entry_bytes = excluded.entry_bytes, export_id = excluded.export_id, exported_at = excluded.exported_at
        WHERE excluded.exported_at >= category_rows.exported_at
        RETURNING rowid AS seq, category`;
}

/**
 * One import on the single writer, fair to the fleet: its rows go in transactions of their own, and when
 * another import (or a failure, a retention batch) waits for the writer, the session commits what it has
 * written once it has held the writer MIN_HOLD_MS, and takes its next turn after them. So a 5-row import
 * waits a fraction of a second behind a 5-million-row one, not its whole length. Each transaction keeps
 * the counts of the rows it wrote, so every committed row is counted once; the import is recorded as
 * imported only in its last transaction: a crash part-way leaves rows of the export, never the export
 * marked imported, and the boat's resend upserts the same rows (by row key) and completes it. A boat's
 * imports take turns (KeyedTurns), so two copies of one export never run at once.
 */
export class SqliteSession implements ImportSession {
    private identity: ExportIdentity | undefined;
    private exportedAt = '';
    private highestSeq = 0;
    /** Rows inserted per category by the transaction under way, added to category_counts when it commits. */
    private readonly inserted = new Map<string, number>();
    private endWriterTurn: (() => void) | undefined;
    private endBoatTurn: (() => void) | undefined;
    private openedAt = 0;
    private ended = false;

    constructor(
        private readonly db: Connection,
        private readonly writerTurns: Turns,
        private readonly boatTurns: KeyedTurns,
        private readonly fullBatch: () => Promise<Prepared>,
        private readonly release: () => void,
    ) {}

    async claim(identity: ExportIdentity, exportedAt: string): Promise<PriorImport | undefined> {
        this.endBoatTurn = await this.boatTurns.take(identity.installation_id);
        await this.begin();
        const before = await this.db.get<PriorImport>('SELECT import_id, records_imported FROM imported_exports WHERE installation_id = ? AND export_id = ?', [
            identity.installation_id,
            identity.export_id,
        ]);
        if (before) return before;
        this.identity = identity;
        this.exportedAt = exportedAt;
        return undefined;
    }

    async writeRows(rows: StoredRow[]): Promise<void> {
        const id = this.identity!;
        await this.begin();
        for (let at = 0; at < rows.length; at += BATCH_ROWS) {
            const batch = rows.slice(at, at + BATCH_ROWS);
            const params: unknown[] = [id.installation_id, id.export_id, this.exportedAt];
            for (const row of batch) params.push(row.category, row.key, row.entry, Buffer.byteLength(row.entry));
            const returned =
                batch.length === BATCH_ROWS
                    ? await (await this.fullBatch()).all<{ seq: number; category: string }>(params)
                    : await this.db.all<{ seq: number; category: string }>(upsertRowsSql(batch.length), params);
            this.countInserted(returned);
        }
        await this.letOthersIn();
    }

    /** A new row's rowid is past every rowid before it; an updated row keeps its own. */
    private countInserted(returned: Array<{ seq: number; category: string }>): void {
        let highest = this.highestSeq;
        const seen = new Set<number>();
        for (const { seq, category } of returned) {
            if (seq > this.highestSeq && !seen.has(seq)) {
                seen.add(seq);
                this.inserted.set(category, (this.inserted.get(category) ?? 0) + 1);
            }
            if (seq > highest) highest = seq;
        }
        this.highestSeq = highest;
    }

    async writeData(category: string, data: string): Promise<void> {
        const id = this.identity!;
        await this.begin();
        await this.db.run(
            `INSERT INTO category_data (installation_id, category, data, export_id, exported_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (installation_id, category) DO UPDATE
             SET data = excluded.data, export_id = excluded.export_id, exported_at = excluded.exported_at
             WHERE excluded.exported_at >= category_data.exported_at`,
            [id.installation_id, category, data, id.export_id, this.exportedAt],
        );
    }

    async commit(record: ImportRecord): Promise<void> {
        const { header } = record;
        try {
            await this.begin();
            await this.db.run(
                `INSERT INTO imported_exports (installation_id, export_id, import_id, mode, tier, format_version, exported_at, imported_at, records_imported, body_bytes, categories)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
                importedExportValues(record),
            );
            await this.db.run(
                `INSERT INTO installations (installation_id, export_count, records_imported, first_import_at, last_import_at, last_export_id) VALUES (?, 1, ?, ?, ?, ?)
                 ON CONFLICT (installation_id) DO UPDATE SET export_count = export_count + 1, records_imported = installations.records_imported + excluded.records_imported,
                 last_import_at = excluded.last_import_at, last_export_id = excluded.last_export_id`,
                [header.installation_id, header.records, record.imported_at, record.imported_at, header.export_id],
            );
            await this.db.run('DELETE FROM failed_imports WHERE installation_id = ? AND export_id = ?', [header.installation_id, header.export_id]);
            await this.commitTransaction();
        } finally {
            await this.rollback();
        }
    }

    /** Ends the session: the transaction under way stores nothing (its rows and their counts go together). */
    async rollback(): Promise<void> {
        try {
            if (this.endWriterTurn) await this.db.exec('ROLLBACK').catch(() => undefined);
        } finally {
            this.endTurn();
            this.endBoatTurn?.();
            this.endBoatTurn = undefined;
            if (!this.ended) {
                this.ended = true;
                this.release();
            }
        }
    }

    /** Takes the writer and opens a transaction, unless the session has one open. */
    private async begin(): Promise<void> {
        if (this.endWriterTurn) return;
        this.endWriterTurn = await this.writerTurns.take();
        try {
            await this.db.exec('BEGIN IMMEDIATE');
        } catch (err) {
            this.endTurn();
            throw err;
        }
        this.openedAt = Date.now();
        this.highestSeq = (await this.db.get<{ seq: number | null }>('SELECT max(rowid) AS seq FROM category_rows'))?.seq ?? 0;
    }

    /** Commits what this transaction wrote, with its counts, and ends the writer turn. */
    private async commitTransaction(): Promise<void> {
        const installationId = this.identity?.installation_id;
        if (installationId) {
            for (const [category, rows] of this.inserted) {
                await this.db.run(
                    `INSERT INTO category_counts (installation_id, category, rows) VALUES (?, ?, ?)
                     ON CONFLICT (installation_id, category) DO UPDATE SET rows = rows + excluded.rows`,
                    [installationId, category, rows],
                );
            }
        }
        await this.db.exec('COMMIT');
        this.inserted.clear();
        this.endTurn();
    }

    private async letOthersIn(): Promise<void> {
        if (this.writerTurns.waiting > 0 && Date.now() - this.openedAt >= MIN_HOLD_MS) await this.commitTransaction();
    }

    private endTurn(): void {
        this.inserted.clear();
        const end = this.endWriterTurn;
        this.endWriterTurn = undefined;
        end?.();
    }
}
