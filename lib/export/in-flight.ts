import { promises as fs } from 'fs';
import { BoatDataError } from '../errors';
import { abandonExport, ExportInProgress, FinishedExport } from './export-file';

/** One message's work on an export, as a node's close handler sees it. */
export interface ExportWork {
    /** Names the export this work builds, once it is known (refused, and the export removed, if the node has given up). */
    hold(exp: ExportInProgress): Promise<ExportInProgress>;
    /** Throws if the node closed and abandoned this export: a collector must not pass a removed export on. */
    stillWanted(): void;
    /** A finished export goes on only if its node has not given up on it; otherwise its file is removed, never left unqueued. */
    keep(finished: FinishedExport): Promise<FinishedExport>;
}

interface Running {
    exp?: ExportInProgress;
    abandoned: boolean;
    settled: boolean;
}

/**
 * The exports a node is working on. On a redeploy or stop its close handler
 * waits for them, for a bounded time, and abandons what has not finished: an
 * export that finished after its flow was gone would be an export file no
 * queue ever takes.
 */
export class ExportsInFlight {
    private readonly running = new Map<Promise<unknown>, Running>();

    run<T>(work: (ticket: ExportWork) => Promise<T>): Promise<T> {
        const state: Running = { abandoned: false, settled: false };
        const ticket: ExportWork = {
            hold: async (exp) => {
                state.exp = exp;
                if (state.abandoned) {
                    await abandonExport(exp);
                    throw abandoned(exp);
                }
                return exp;
            },
            stillWanted: () => {
                if (state.abandoned) throw abandoned(state.exp);
            },
            keep: async (finished) => {
                if (state.abandoned) {
                    for (const file of finished.parts?.map((p) => p.export_file) ?? [finished.export_file]) await fs.rm(file, { force: true });
                    throw abandoned(state.exp);
                }
                state.settled = true;
                return finished;
            },
        };
        const task = work(ticket).finally(() => {
            state.settled = true;
            this.running.delete(task);
        });
        this.running.set(task, state);
        return task;
    }

    get size(): number {
        return this.running.size;
    }

    /**
     * Waits up to `waitMs` for the work under way, then abandons each export
     * still unfinished (its partial file is removed). Answers the ids abandoned.
     */
    async close(waitMs: number): Promise<string[]> {
        const tasks = [...this.running.keys()].map((task) => task.then(noop, noop));
        if (tasks.length === 0) return [];
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(tasks), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
        clearTimeout(timer);
        const given: string[] = [];
        for (const state of this.running.values()) {
            if (state.settled) continue;
            state.abandoned = true;
            if (!state.exp) continue;
            await abandonExport(state.exp).catch(noop);
            given.push(state.exp.export_id);
        }
        return given;
    }
}

function abandoned(exp: ExportInProgress | undefined): BoatDataError {
    const which = exp ? `The export ${exp.export_id}` : 'An export';
    return new BoatDataError('EXPORT_ABANDONED', `${which} was abandoned: its node was stopped or redeployed before it finished; run the export again`, 503);
}

function noop(): void {}
