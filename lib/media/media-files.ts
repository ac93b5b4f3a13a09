import { BoatDataError } from '../errors';

/**
 * The recordings a scan found, kept compactly: a path string and three
 * numbers per file in growing typed arrays, rather than a Stats object each
 * (100,000 recordings stay a few megabytes).
 */
/** Room for 4 million files beside a millisecond time good until the year 2109. */
const NUMBER_BITS = 22n;
const NUMBER_MASK = (1n << NUMBER_BITS) - 1n;
const MAX_FILES = 2 ** 22;

export class MediaFiles {
    /** Full paths, under the media folder's real path. */
    readonly paths: string[] = [];
    private modified: Float64Array = new Float64Array(1024);
    private sizes: Float64Array = new Float64Array(1024);
    private allocated: Float64Array = new Float64Array(1024);

    /** `root`: the media folder's real path, which every path starts with. */
    constructor(private readonly root: string) {}

    get count(): number {
        return this.paths.length;
    }

    /** The name relative to the media folder, as reports show it: `captures/snap.jpg`. */
    name(i: number): string {
        return this.paths[i].slice(this.root.length + 1);
    }

    add(file: string, mtimeMs: number, size: number, allocatedBytes: number): void {
        const i = this.paths.length;
        if (i === MAX_FILES) throw new BoatDataError('MEDIA_TOO_MANY_FILES', `the media folder holds more than ${MAX_FILES} recordings; clean it up by hand once`, 500);
        if (i === this.modified.length) {
            this.modified = grow(this.modified);
            this.sizes = grow(this.sizes);
            this.allocated = grow(this.allocated);
        }
        this.paths.push(file);
        this.modified[i] = mtimeMs;
        this.sizes[i] = size;
        this.allocated[i] = allocatedBytes;
    }

    mtimeMs(i: number): number {
        return this.modified[i];
    }

    size(i: number): number {
        return this.sizes[i];
    }

    /** The disk space deleting this file gives back (whole blocks, not the file's length). */
    allocatedBytes(i: number): number {
        return this.allocated[i];
    }

    totalBytes(): number {
        let total = 0;
        for (let i = 0; i < this.count; i++) total += this.sizes[i];
        return total;
    }

    /**
     * File numbers, oldest first (ties in the order the scan found them).
     * Sorted as 64-bit keys, milliseconds above the file number, by the
     * engine's native sort: a JavaScript comparator over 100,000 files holds
     * the event loop two or three times as long.
     */
    oldestFirst(): Uint32Array {
        const keys = new BigUint64Array(this.count);
        for (let i = 0; i < keys.length; i++) keys[i] = (BigInt(Math.max(0, Math.floor(this.modified[i]))) << NUMBER_BITS) | BigInt(i);
        keys.sort();
        const order = new Uint32Array(this.count);
        for (let i = 0; i < order.length; i++) order[i] = Number(keys[i] & NUMBER_MASK);
        return order;
    }
}

function grow(values: Float64Array): Float64Array {
    const bigger = new Float64Array(values.length * 2);
    bigger.set(values);
    return bigger;
}
