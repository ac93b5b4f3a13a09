import { CATEGORY_KEYS, CategoryKey, isCategoryKey } from '../categories';
import { BoatDataError } from '../errors';
import type { IngestStore } from './store';

/** Days each category is kept; a category not named is kept for ever. */
export type Retention = Map<CategoryKey, number>;

/** Rows deleted per transaction: short enough that an import waiting behind one hardly notices. */
export const RETENTION_BATCH_ROWS = 500;
/** The pause between batches, so imports get the writer (SQLite) and the server (PostgreSQL) in between. */
export const RETENTION_PAUSE_MS = 20;
/** How often old rows are looked for. */
export const RETENTION_EVERY_MS = 60 * 60 * 1000;
/** The first look, a little after start, so a restart under load does not begin by deleting. */
export const RETENTION_FIRST_MS = 60 * 1000;

const DAY_MS = 86400000;

/** The node's "Keep rows" setting: `telemetry=400, system_alerts=730` (days); empty keeps everything. */
export function parseRetention(text: string): Retention {
    const retention: Retention = new Map();
    for (const part of text.split(/[,;\n]/)) {
        const item = part.trim();
        if (item === '') continue;
        const match = /^([a-z_]+)\s*[=:]\s*(\d+)\s*(d|days?)?$/i.exec(item);
        if (!match) throw new BoatDataError('INGEST_RETENTION', `"${item}" is not <category>=<days>, for example telemetry=400`, 500);
        const category = match[1].toLowerCase();
        if (!isCategoryKey(category)) throw new BoatDataError('INGEST_RETENTION', `"${category}" is not a category; use one of ${CATEGORY_KEYS.join(', ')}`, 500);
        const days = Number(match[2]);
        if (days < 1) throw new BoatDataError('INGEST_RETENTION', `${category} must be kept at least 1 day, not ${days}`, 500);
        retention.set(category, days);
    }
    return retention;
}

export interface RetentionRun {
    /** Rows deleted per category. */
    deleted: Partial<Record<CategoryKey, number>>;
    /** The run was stopped before it had finished (the node closed). */
    stopped: boolean;
}

/**
 * Deletes the rows each category keeps no longer (by when the boat exported them), a batch at a time with a
 * pause between, so an import never waits behind more than one short transaction. `stopping` ends the run
 * between two batches.
 */
export async function applyRetention(store: IngestStore, retention: Retention, options: { now?: number; batchRows?: number; pauseMs?: number; stopping?: () => boolean } = {}): Promise<RetentionRun> {
    const now = options.now ?? Date.now();
    const batchRows = options.batchRows ?? RETENTION_BATCH_ROWS;
    const pauseMs = options.pauseMs ?? RETENTION_PAUSE_MS;
    const deleted: RetentionRun['deleted'] = {};
    for (const [category, days] of retention) {
        const before = new Date(now - days * DAY_MS).toISOString();
        for (;;) {
            if (options.stopping?.()) return { deleted, stopped: true };
            const gone = await store.deleteOldRows(category, before, batchRows);
            deleted[category] = (deleted[category] ?? 0) + gone;
            if (gone < batchRows) break;
            await new Promise((resolve) => setTimeout(resolve, pauseMs));
        }
    }
    return { deleted, stopped: false };
}

/**
 * Applies `retention` a minute after start and hourly after, one run at a time; `stop` ends the run under
 * way between two batches and resolves when it has.
 */
export function scheduleRetention(store: IngestStore, retention: Retention, report: (run: RetentionRun | Error) => void): { stop: () => Promise<void> } {
    let stopped = false;
    let running: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const next = (ms: number) => {
        timer = setTimeout(() => {
            running = applyRetention(store, retention, { stopping: () => stopped })
                .then(report, (err: Error) => report(err))
                .finally(() => {
                    if (!stopped) next(RETENTION_EVERY_MS);
                });
        }, ms);
        timer.unref();
    };
    if (retention.size > 0) next(RETENTION_FIRST_MS);
    return {
        stop: async () => {
            stopped = true;
            clearTimeout(timer);
            await running;
        },
    };
}
