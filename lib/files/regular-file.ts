import { constants as fsConstants, promises as fs, Stats } from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode } from '../errors';
import { noteReadFinished, noteReadRefused, noteReadStuck, stuckSince } from './read-watch';

/**
 * How long one read of a boat file may take before it counts as stuck. A
 * JSON source is a few KB; even a slow SD card reads it in milliseconds. A
 * read that takes this long is a hung mount, and waiting for it for ever
 * would hold one of libuv's four threads, then Node-RED's whole event loop.
 */
export const READ_LIMIT_MS = 10_000;

/**
 * O_NONBLOCK: opening a FIFO for reading waits for a writer, for ever if none
 * comes; with this flag it returns at once, and the fstat below refuses it.
 * O_NOCTTY: a terminal device named as a source never becomes our terminal.
 */
const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY;

/** What a file that is not a regular file is, in the owner's words. */
export function fileKind(stat: Stats): string {
    if (stat.isFIFO()) return 'a FIFO (named pipe)';
    if (stat.isSocket()) return 'a socket';
    if (stat.isCharacterDevice()) return 'a character device';
    if (stat.isBlockDevice()) return 'a block device';
    if (stat.isDirectory()) return 'a folder';
    return 'not a regular file';
}

export interface ReadOptions {
    /** Milliseconds before the read counts as stuck; READ_LIMIT_MS unless told otherwise. */
    limitMs?: number;
    /** Refuse files larger than this (a source that is a disk image by mistake). */
    maxBytes?: number;
}

/**
 * Opens `file` only if it is a regular file, judged by fstat of the opened
 * descriptor (so a swap between a check and the open cannot fool it), and
 * runs `use` on it, all within the time limit. A file missing is an error
 * with code ENOENT, as from fs; everything else is a BoatDataError naming
 * the file. A read that outlives the limit is left to finish on its own
 * (a thread stuck in the kernel cannot be cancelled), and later reads of the
 * same file are refused at once until it does, so one hung file costs one
 * thread, not one per export.
 */
export async function withRegularFile<T>(file: string, use: (handle: fs.FileHandle, stat: Stats) => Promise<T>, options: ReadOptions = {}): Promise<T> {
    const name = path.basename(file);
    const limitMs = options.limitMs ?? READ_LIMIT_MS;
    const stuck = stuckSince(file);
    if (stuck !== undefined) {
        throw new BoatDataError('SOURCE_STUCK', `${name} is not answering: a read of it started ${Math.round((Date.now() - stuck) / 1000)} s ago has not finished (a hung drive or mount?)`, 503);
    }
    const work = (async () => {
        let handle: fs.FileHandle;
        try {
            handle = await fs.open(file, OPEN_FLAGS);
        } catch (err) {
            // A socket cannot be opened at all (ENXIO); say what it is, as for a FIFO.
            if (errorCode(err) === 'ENXIO' || errorCode(err) === 'EOPNOTSUPP') {
                const stat = await fs.lstat(file).catch(() => null);
                if (stat && !stat.isFile()) throw notAFile(file, stat);
            }
            throw err;
        }
        try {
            const stat = await handle.stat();
            if (!stat.isFile()) throw notAFile(file, stat);
            if (options.maxBytes !== undefined && stat.size > options.maxBytes) {
                throw new BoatDataError('SOURCE_TOO_LARGE', `${name} is ${stat.size} bytes, more than the ${options.maxBytes} such a file can hold`, 500);
            }
            return await use(handle, stat);
        } finally {
            await handle.close().catch(() => undefined);
        }
    })();
    try {
        const result = await withinLimit(work, limitMs, () => noteReadStuck(file, work), `The read of ${name}`);
        noteReadFinished(file);
        return result;
    } catch (err) {
        if (err instanceof RefusedRead) noteReadRefused(file, err.reason);
        else if (errorCode(err) === 'SOURCE_TIMEOUT') noteReadRefused(file, `did not answer within ${Math.round(limitMs / 1000)} s`);
        throw err;
    }
}

/** A source refused for what it is; `reason` is the sentence without the file's name. */
export class RefusedRead extends BoatDataError {
    constructor(
        file: string,
        readonly reason: string,
    ) {
        super('SOURCE_NOT_A_FILE', `${path.basename(file)} ${reason}`, 500);
    }
}

export function notAFile(file: string, stat: Stats): RefusedRead {
    return new RefusedRead(file, `is ${fileKind(stat)}, not a regular file, so it was not read; put the real file in its place`);
}

/** The whole of a regular file as UTF-8 text, bounded in time. */
export function readRegularFile(file: string, options: ReadOptions = {}): Promise<string> {
    return withRegularFile(file, async (handle) => handle.readFile('utf8'), options);
}

/**
 * Checks, bounded in time, that `file` is a regular file before a library
 * that opens it itself (SQLite) gets its name. Answers false when it does
 * not exist.
 */
export async function isRegularFile(file: string, options: ReadOptions = {}): Promise<boolean> {
    try {
        await withRegularFile(file, async () => undefined, options);
        return true;
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return false;
        throw err;
    }
}

/**
 * `work`, or a SOURCE_TIMEOUT error once `limitMs` has passed without an
 * answer. `onLate` hears of the work still running.
 */
export function withinLimit<T>(work: Promise<T>, limitMs: number, onLate: () => void, what?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
            onLate();
            reject(new BoatDataError('SOURCE_TIMEOUT', `${what ?? 'A read'} did not finish within ${Math.round(limitMs / 100) / 10} s (a hung drive or mount?)`, 503));
        }, limitMs);
        work.then(
            (value) => {
                clearTimeout(timer);
                resolve(value);
            },
            (err) => {
                clearTimeout(timer);
                reject(err);
            },
        );
    });
}
