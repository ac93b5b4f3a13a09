/**
 * What one export may hold. None of these is near what a boat sends (a year
 * of a busy boat is about 700,000 rows); they are there so that no upload,
 * however built, makes the ingest hold more than a few MB at once.
 */
export interface ExportLimits {
    /** Any single JSON string, in bytes as sent (a boatlog note, an alert text). */
    maxStringBytes: number;
    /** Any single stored row: one entry of a category, or a category's data object. */
    maxRowBytes: number;
    /** Entries of one category in one export. */
    maxRowsPerCategory: number;
    /** Entries of all categories in one export. */
    maxRowsPerExport: number;
    /** Nesting of arrays and objects. */
    maxDepth: number;
    /** Keys of any one object. */
    maxKeysPerObject: number;
}

export const DEFAULT_LIMITS: ExportLimits = {
    maxStringBytes: 512 * 1024,
    maxRowBytes: 1024 * 1024,
    maxRowsPerCategory: 5_000_000,
    maxRowsPerExport: 10_000_000,
    maxDepth: 64,
    maxKeysPerObject: 10_000,
};

/** A page of rows read back is cut after this many bytes of entries (at least one row is always answered). */
export const PAGE_BYTES = 4 * 1024 * 1024;

export function formatMegabytes(bytes: number): string {
    const mb = bytes / (1024 * 1024);
    if (mb >= 1) return `${Math.round(mb * 10) / 10} MB`;
    return bytes >= 1024 ? `${Math.round(bytes / 1024)} kB` : `${bytes} bytes`;
}
