import type { Backlog } from './backlog';

// What the fleet page and the silent-boat watch ask of an ingest store (both kinds answer the same shapes).

/** Where a page of boats starts: after this boat in the order of last contact. */
export interface FleetCursor {
    last_import_at: string;
    installation_id: string;
}

export interface FleetBoatsQuery {
    after?: FleetCursor;
    limit: number;
    /** Only boats whose installation_id starts with this (lowercase hex). */
    prefix?: string;
    /** A boat last heard from before this (UTC ISO) counts as silent. */
    silentBefore: string;
}

export interface ReportedBacklog extends Backlog {
    reported_at: string;
}

export interface Refusal {
    export_id: string;
    failed_at: string;
    status: number;
    error: string;
    attempts: number;
}

export interface FleetBoatRow {
    installation_id: string;
    export_count: number;
    records_imported: number;
    first_import_at: string;
    /** The boat's last contact: when its newest import was stored. */
    last_import_at: string;
    last_export_id: string;
    /** The newest export_timestamp among its imports. */
    newest_exported_at: string | null;
    /** Rows stored per category. */
    rows: Record<string, number>;
    refused: { count: number; newest: Refusal | null };
    backlog: ReportedBacklog | null;
}

export interface FleetBoatsPage {
    boats: FleetBoatRow[];
    /** Every boat, every silent boat, and the boats the prefix matches. */
    total: number;
    silent: number;
    matching: number;
}

export interface BoatContact {
    installation_id: string;
    last_import_at: string;
    backlog: ReportedBacklog | null;
}

/** An ISO time as a store gave it (text, or a Date from a timestamptz column), as UTC ISO text. */
export function isoTime(value: unknown): string {
    if (value instanceof Date) return value.toISOString();
    const text = String(value);
    const parsed = new Date(text);
    return Number.isNaN(parsed.getTime()) ? text : parsed.toISOString();
}

export function isoTimeOrNull(value: unknown): string | null {
    return value === null || value === undefined ? null : isoTime(value);
}

export function backlogOf(row: { backlog_exports?: unknown; backlog_bytes?: unknown; backlog_reported_at?: unknown }): ReportedBacklog | null {
    if (row.backlog_exports === null || row.backlog_exports === undefined || row.backlog_reported_at == null) return null;
    return { exports: Number(row.backlog_exports), bytes: Number(row.backlog_bytes ?? 0), reported_at: isoTime(row.backlog_reported_at) };
}

/** Rows as the stores answer them (JSON as text or parsed, numbers as text from bigint) into one shape. */
export function fleetBoatRow(row: Record<string, any>): FleetBoatRow {
    const json = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value);
    const rows: Record<string, number> = {};
    for (const [category, count] of Object.entries(json(row.rows) ?? {})) rows[category] = Number(count);
    const newest = json(row.newest_refusal) as Record<string, unknown> | null;
    return {
        installation_id: row.installation_id,
        export_count: Number(row.export_count),
        records_imported: Number(row.records_imported),
        first_import_at: isoTime(row.first_import_at),
        last_import_at: isoTime(row.last_import_at),
        last_export_id: row.last_export_id,
        newest_exported_at: isoTimeOrNull(row.newest_exported_at),
        rows,
        refused: {
            count: Number(row.refused_count ?? 0),
            newest: newest
                ? { export_id: String(newest.export_id), failed_at: isoTime(newest.failed_at), status: Number(newest.status), error: String(newest.error), attempts: Number(newest.attempts) }
                : null,
        },
        backlog: backlogOf(row),
    };
}

export function boatContact(row: Record<string, any>): BoatContact {
    return { installation_id: row.installation_id, last_import_at: isoTime(row.last_import_at), backlog: backlogOf(row) };
}

/** The installation_id range a prefix covers ([from, to)): every id when there is none. Ids are lowercase hex, all below "g". */
export function prefixRange(prefix: string | undefined): [string, string] {
    return prefix ? [prefix, `${prefix}g`] : ['', 'g'];
}
