import * as fs from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { MediaFiles } from './media-files';

export interface ScanOptions {
    /** Lower case, with the dot. */
    extensions: string[];
    /** Keep every recording (for a cleanup); without it only counts and bytes are summed (for a status). */
    keepFiles?: boolean;
    signal?: AbortSignal;
}

export interface MediaScan {
    /** The media folder as given. */
    mediaDir: string;
    /** Its real path (the configured folder may itself be a link, say to a USB drive): the only tree ever touched. */
    root: string;
    exists: boolean;
    files: MediaFiles;
    count: number;
    bytes: number;
    /** Links met and not followed. */
    skippedLinks: number;
    /** Folders that are another disk mounted inside the media folder: deleting there frees nothing here. */
    skippedOtherDisks: number;
    /** Folders that could not be read, with the reason. */
    unreadable: string[];
}

/** How long the walk may hold the event loop before letting Node-RED's other work run. */
const SLICE_MS = 8;
const DIR_BUFFER = 512;
const IF_PRESENT = { throwIfNoEntry: false } as const;

/**
 * Walks the media folder for recordings. Never follows a link, to a folder
 * or to a file: a link is skipped, whatever it points at. Folders are read
 * in batches through fs.opendir; the walk gives the event loop back every
 * few milliseconds, so a 100,000-file scan never stalls the dashboard.
 * (Each recording's lstat is synchronous: a cached inode costs a microsecond
 * or two, where a thread-pool round trip costs several.)
 */
export async function scanMedia(mediaDir: string, options: ScanOptions): Promise<MediaScan> {
    const scan: MediaScan = {
        mediaDir,
        root: path.resolve(mediaDir),
        exists: false,
        files: new MediaFiles(path.resolve(mediaDir)),
        count: 0,
        bytes: 0,
        skippedLinks: 0,
        skippedOtherDisks: 0,
        unreadable: [],
    };
    throwIfStopped(options.signal);
    let rootDev: number;
    try {
        scan.root = await fs.promises.realpath(mediaDir);
        scan.files = new MediaFiles(scan.root);
        const stat = await fs.promises.stat(scan.root);
        if (!stat.isDirectory()) {
            throw new BoatDataError('MEDIA_DIR_NOT_FOLDER', `the media folder ${mediaDir} is a file, not a folder; check the media folder in the boat configuration`, 409);
        }
        rootDev = stat.dev;
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return scan;
        if (err instanceof BoatDataError) throw err;
        throw new BoatDataError('MEDIA_DIR_UNREADABLE', `the media folder ${mediaDir} cannot be read: ${errorMessage(err)}`, 500);
    }
    scan.exists = true;

    const extensions = new Set(options.extensions);
    const isMedia = (name: string) => {
        const dot = name.lastIndexOf('.');
        return dot > 0 && extensions.has(name.slice(dot).toLowerCase());
    };
    const pending: string[] = [''];
    let sliceStart = performance.now();
    let sinceClockCheck = 0;
    while (pending.length > 0) {
        const rel = pending.pop() as string;
        const abs = rel === '' ? scan.root : `${scan.root}/${rel}`;
        let dir: fs.Dir;
        try {
            dir = await fs.promises.opendir(abs, { bufferSize: DIR_BUFFER });
        } catch (err) {
            if (rel === '') throw new BoatDataError('MEDIA_DIR_UNREADABLE', `the media folder ${mediaDir} cannot be read: ${errorMessage(err)}`, 500);
            scan.unreadable.push(`${rel}: ${errorMessage(err)}`);
            continue;
        }
        try {
            // readSync serves the 512-entry buffer and refills it with one small read when it runs dry.
            for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
                if (entry.isSymbolicLink()) {
                    scan.skippedLinks++;
                } else if (entry.isDirectory()) {
                    const stat = fs.lstatSync(`${abs}/${entry.name}`, IF_PRESENT);
                    if (stat?.isDirectory() && stat.dev === rootDev) pending.push(rel === '' ? entry.name : `${rel}/${entry.name}`);
                    else if (stat?.isDirectory()) scan.skippedOtherDisks++;
                } else if (entry.isFile() && isMedia(entry.name)) {
                    // lstat, never stat: a file swapped for a link since the folder was read is not followed either.
                    const file = `${abs}/${entry.name}`;
                    const stat = fs.lstatSync(file, IF_PRESENT);
                    if (stat?.isFile()) {
                        scan.count++;
                        scan.bytes += stat.size;
                        if (options.keepFiles) scan.files.add(file, stat.mtimeMs, stat.size, stat.blocks * 512);
                    }
                }
                // Reading the clock costs too: look every 32 entries.
                if (++sinceClockCheck === 32) {
                    sinceClockCheck = 0;
                    if (performance.now() - sliceStart > SLICE_MS) {
                        await yieldToEventLoop();
                        throwIfStopped(options.signal);
                        sliceStart = performance.now();
                    }
                }
            }
        } catch (err) {
            if (err instanceof BoatDataError) throw err;
            scan.unreadable.push(`${rel || '.'}: ${errorMessage(err)}`);
        } finally {
            await dir.close().catch(() => undefined);
        }
    }
    return scan;
}

export function yieldToEventLoop(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
}

export function throwIfStopped(signal: AbortSignal | undefined): void {
    if (signal?.aborted) {
        throw new BoatDataError('MEDIA_CLEANUP_STOPPED', 'the media cleanup was stopped because its flow was redeployed or Node-RED is stopping', 503);
    }
}
