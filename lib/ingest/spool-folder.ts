import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BoatDataError } from '../errors';
import { formatMegabytes } from './limits';

/** What the central sets aside for uploads waiting their turn, at most: total bytes and uploads at once. */
export interface SpoolLimits {
    maxBytes: number;
    maxUploads: number;
}

/** Four full exports of the largest size at once; a boat over the caps is told to come back shortly. */
export const DEFAULT_SPOOL_LIMITS: SpoolLimits = { maxBytes: 1024 * 1024 * 1024, maxUploads: 4 };

/** How long a boat turned away by a full spool is told to wait. */
export const SPOOL_RETRY_AFTER_S = 30;

/** A refusal that tells the client when to come back (Retry-After). */
export class RetryLaterError extends BoatDataError {
    constructor(
        code: string,
        message: string,
        statusCode: number,
        readonly retryAfterSeconds: number,
    ) {
        super(code, message, statusCode);
    }
}

/**
 * The folder large uploads wait in: on the ingest's disk (the system temp folder is RAM on Debian 13),
 * `spool/<host>` in the data folder, so instances that share a data folder each clean only their own. It
 * is emptied when this process first uses it: what a killed Node-RED left there goes at the next start.
 */
export class SpoolFolder {
    private bytes = 0;
    private uploads = 0;

    private constructor(
        readonly dir: string,
        readonly limits: SpoolLimits,
    ) {}

    static async open(dataDir: string, limits: SpoolLimits): Promise<SpoolFolder> {
        const dir = path.join(dataDir, 'spool', os.hostname().replace(/[^A-Za-z0-9._-]/g, '_') || 'host');
        await fs.rm(dir, { recursive: true, force: true });
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
        return new SpoolFolder(dir, limits);
    }

    /** A place for one more upload, or 429 while the most are already waiting. Answers how to give it back. */
    admit(): () => void {
        if (this.uploads >= this.limits.maxUploads) {
            throw new RetryLaterError('INGEST_SPOOL_BUSY', `${this.limits.maxUploads} large uploads are already being received; the boat sends this one again shortly`, 429, SPOOL_RETRY_AFTER_S);
        }
        this.uploads++;
        let given = false;
        return () => {
            if (given) return;
            given = true;
            this.uploads--;
        };
    }

    /** Room for `bytes` more, or 503 when the folder holds its most. */
    reserve(bytes: number): void {
        if (this.bytes + bytes > this.limits.maxBytes) {
            throw new RetryLaterError(
                'INGEST_SPOOL_FULL',
                `the uploads being received fill the ${formatMegabytes(this.limits.maxBytes)} set aside for them; the boat sends this one again shortly`,
                503,
                SPOOL_RETRY_AFTER_S,
            );
        }
        this.bytes += bytes;
    }

    release(bytes: number): void {
        this.bytes = Math.max(0, this.bytes - bytes);
    }
}

const folders = new Map<string, Promise<SpoolFolder>>();

/** The spool folder of a data folder, opened (and emptied) once per process. */
export function spoolFolderFor(dataDir: string, limits: SpoolLimits = DEFAULT_SPOOL_LIMITS): Promise<SpoolFolder> {
    const key = path.resolve(dataDir);
    let folder = folders.get(key);
    if (!folder) {
        folder = SpoolFolder.open(key, limits);
        folders.set(key, folder);
        folder.catch(() => folders.delete(key));
    }
    return folder;
}
