import { CATEGORY_KEYS, CategoryKey } from '../categories';
import type { FinishedExport } from '../export/export-file';
import type { Watermarks } from '../export/watermarks';
import type { QueueEntry } from './entries';

/**
 * What an export's categories are worth on a paid link. Urgent ones are
 * small and wanted first after an outage; bulk ones are most of the bytes
 * and can wait for Wi-Fi (or the day's budget).
 */
export type UploadClass = 'urgent' | 'bulk';

export const BULK_CATEGORIES: readonly CategoryKey[] = ['telemetry', 'marine_vision_captures', 'marine_vision_snapshots'];

export function classOf(key: CategoryKey): UploadClass {
    return BULK_CATEGORIES.includes(key) ? 'bulk' : 'urgent';
}

/** An entry's class; one queued before the split (or taken back from its file) may hold anything, so it counts as bulk. */
export function entryClass(entry: Pick<QueueEntry, 'part'>): UploadClass {
    return entry.part ?? 'bulk';
}

/** The export id of the bulk part: one family with the export's own, which the urgent part keeps. */
export function bulkExportId(exportId: string): string {
    return `${exportId}-bulk`;
}

/** The export id a part belongs to. */
export function familyOf(entry: Pick<QueueEntry, 'export_id' | 'family_id'>): string {
    return entry.family_id ?? entry.export_id;
}

/** What the queue makes of one closed export: one upload per class that has data (one upload when only one has, or none do). */
export interface ExportPart {
    export_id: string;
    part: UploadClass;
    /** Set when the upload carries only these categories of the file (the others go empty). */
    categories_sent?: CategoryKey[];
    watermarks: Watermarks;
}

export function partsOf(exp: Pick<FinishedExport, 'export_id' | 'watermarks' | 'layout'>): ExportPart[] {
    const layout = exp.layout;
    const withData = new Set(layout?.with_data ?? CATEGORY_KEYS);
    const has = (cls: UploadClass) => CATEGORY_KEYS.some((key) => classOf(key) === cls && withData.has(key));
    const complete = layout !== undefined && CATEGORY_KEYS.every((key) => layout.ranges[key] !== undefined);
    if (!complete || !has('urgent') || !has('bulk')) {
        // Sent whole. Without a layout nothing is known of its content: bulk, as an adopted file is.
        const part: UploadClass = layout && !has('bulk') ? 'urgent' : 'bulk';
        return [{ export_id: exp.export_id, part, watermarks: exp.watermarks }];
    }
    const of = (cls: UploadClass) => CATEGORY_KEYS.filter((key) => classOf(key) === cls);
    const marks = (cls: UploadClass): Watermarks => Object.fromEntries(Object.entries(exp.watermarks).filter(([key]) => classOf(key as CategoryKey) === cls));
    return [
        { export_id: exp.export_id, part: 'urgent', categories_sent: of('urgent'), watermarks: marks('urgent') },
        { export_id: bulkExportId(exp.export_id), part: 'bulk', categories_sent: of('bulk'), watermarks: marks('bulk') },
    ];
}

/** The categories an entry's upload carries: those it names, or all nine. */
export function categoriesCarried(entry: Pick<QueueEntry, 'categories_sent'>): readonly CategoryKey[] {
    return entry.categories_sent ?? CATEGORY_KEYS;
}

/**
 * Whether a newer pending incremental export makes an older one pointless:
 * it carries every category the older one does (marks move only on
 * acknowledgement, so it carries those rows too).
 */
export function covers(newer: Pick<QueueEntry, 'categories_sent'>, older: Pick<QueueEntry, 'categories_sent'>): boolean {
    const carried = new Set(categoriesCarried(newer));
    return categoriesCarried(older).every((key) => carried.has(key));
}

/**
 * The order of an upload round: urgent before bulk; urgent newest export
 * first (today's alerts before last month's), bulk oldest first (history
 * fills in in order). Entries due sooner go first within bulk, as before.
 */
export function uploadOrder(a: QueueEntry, b: QueueEntry): number {
    const ca = entryClass(a);
    const cb = entryClass(b);
    if (ca !== cb) return ca === 'urgent' ? -1 : 1;
    if (ca === 'urgent') return b.created_at.localeCompare(a.created_at) || b.export_id.localeCompare(a.export_id);
    const due = (e: QueueEntry) => (e.next_retry_at ? Date.parse(e.next_retry_at) || 0 : 0);
    return due(a) - due(b) || a.created_at.localeCompare(b.created_at) || a.export_id.localeCompare(b.export_id);
}

const LABELS: Record<CategoryKey, string> = {
    engine_benchmark: 'engine benchmark',
    boatlog: 'boatlog',
    marine_vision_captures: 'camera captures',
    marine_vision_snapshots: 'camera snapshots',
    qr_codes: 'QR codes',
    settings: 'settings',
    system_alerts: 'system alerts',
    onboarding: 'onboarding',
    telemetry: 'telemetry',
};

/** "Telemetry", "Telemetry and camera captures": what an owner calls what waits. */
export function describeCategories(keys: readonly CategoryKey[]): string {
    const words = keys.map((key) => LABELS[key]);
    const text = words.length <= 1 ? (words[0] ?? 'data') : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
    return text.charAt(0).toUpperCase() + text.slice(1);
}

/** An upload's size before compression: its file, or the part of it it carries. */
export function plainSize(entry: Pick<QueueEntry, 'categories_sent' | 'layout' | 'file_size_bytes'>): number {
    const layout = entry.layout;
    if (!entry.categories_sent || !layout) return entry.file_size_bytes;
    const carried = entry.categories_sent.reduce((n, key) => n + ((layout.ranges[key]?.[1] ?? 0) - (layout.ranges[key]?.[0] ?? 0)), 0);
    // The header, the other categories empty and the statistics: well under a kilobyte.
    return layout.header_bytes + carried + 1024;
}
