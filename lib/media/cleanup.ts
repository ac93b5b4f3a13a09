import { formatBytes } from '../format';
import { diskUsage, DiskUsage, diskUsageFor, percentOf, roundPercent } from './disk';
import { DiskLevel, levelOf, RECENT_MS, RetentionPolicy, targetFor } from './policy';
import { removeRecordings } from './remove';
import { MediaScan, scanMedia } from './scan';

export interface CleanupOptions {
    mediaDir: string;
    policy: RetentionPolicy;
    /** List what would go and delete nothing. */
    dryRun?: boolean;
    /** What started it, for the report and the last-cleanup record: `schedule`, `disk-check`, `request`, `manual`. */
    trigger?: string;
    /** How many deleted names the report lists (the count is always complete). */
    listLimit?: number;
    signal?: AbortSignal;
    /** The clock, for tests. */
    now?: () => number;
}

export interface StorageAlert {
    level: Exclude<DiskLevel, 'ok'>;
    message: string;
}

export interface CleanupReport {
    success: true;
    media_dir: string;
    media_dir_exists: boolean;
    dry_run: boolean;
    trigger: string;
    started_at: string;
    finished_at: string;
    max_age_days: number;
    /** The disk's level when the cleanup started. */
    level: DiskLevel;
    /** The usage the cleanup freed space down to (below), when the disk was over a threshold. */
    target_percent: number | null;
    usage_before_percent: number;
    /** Measured after deleting; for a dry run, estimated from the blocks the files hold. */
    usage_after_percent: number;
    disk_before: DiskUsage;
    media_files: number;
    deleted_count: number;
    freed_bytes: number;
    deleted_by_age: number;
    deleted_for_space: number;
    /** Names relative to the media folder, the first `listLimit` of them. */
    deleted: string[];
    deleted_not_listed: number;
    /** Left alone: written to in the last minute (a camera is recording them). */
    kept_recent: number;
    skipped_links: number;
    failed: string[];
    unreadable: string[];
    /** The flow was redeployed or Node-RED stopped part way: what was deleted by then is reported. */
    stopped: boolean;
    alert: StorageAlert | null;
}

export const DEFAULT_LIST_LIMIT = 200;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * One cleanup of the camera disk: recordings older than the policy's age
 * go; then, if the disk was over a threshold when the cleanup began, the
 * oldest remaining recordings go until usage is below that threshold's
 * target, measured again after each round (a file still held open by a
 * recorder frees nothing until it is closed).
 */
export async function cleanUpMedia(options: CleanupOptions): Promise<CleanupReport> {
    const now = options.now ?? Date.now;
    const started = now();
    const dryRun = options.dryRun === true;
    const { policy } = options;
    const before = await diskUsageFor(options.mediaDir);
    const level = levelOf(before.usage.used_percent, policy);
    const target = targetFor(level, policy);
    const scan = await scanMedia(options.mediaDir, { extensions: policy.extensions, keepFiles: true, signal: options.signal });

    const files = scan.files;
    const recentSince = started - RECENT_MS;
    const oldBefore = started - policy.maxAgeDays * DAY_MS;
    const byAge: number[] = [];
    let keptRecent = 0;
    for (let i = 0; i < files.count; i++) {
        const mtime = files.mtimeMs(i);
        if (mtime > recentSince) keptRecent++;
        else if (mtime < oldBefore) byAge.push(i);
    }

    const outcome = dryRun ? planOnly(scan, byAge, before.usage, target, recentSince) : await deleteForReal(scan, byAge, target, recentSince, now, options.signal);

    const listLimit = options.listLimit ?? DEFAULT_LIST_LIMIT;
    const deletedCount = outcome.byAge.length + outcome.forSpace.length;
    const listed = [...outcome.byAge, ...outcome.forSpace].slice(0, listLimit).map((i) => files.name(i));
    const report: CleanupReport = {
        success: true,
        media_dir: options.mediaDir,
        media_dir_exists: scan.exists,
        dry_run: dryRun,
        trigger: options.trigger || 'manual',
        started_at: new Date(started).toISOString(),
        finished_at: new Date(now()).toISOString(),
        max_age_days: policy.maxAgeDays,
        level,
        target_percent: target,
        usage_before_percent: roundPercent(before.usage.used_percent),
        usage_after_percent: roundPercent(outcome.usageAfter),
        disk_before: { ...before.usage, used_percent: roundPercent(before.usage.used_percent) },
        media_files: files.count,
        deleted_count: deletedCount,
        freed_bytes: outcome.freedBytes,
        deleted_by_age: outcome.byAge.length,
        deleted_for_space: outcome.forSpace.length,
        deleted: listed,
        deleted_not_listed: deletedCount - listed.length,
        kept_recent: keptRecent,
        skipped_links: scan.skippedLinks,
        failed: outcome.failed,
        unreadable: scan.unreadable,
        stopped: outcome.stopped,
        alert: null,
    };
    report.alert = alertFor(report);
    return report;
}

interface Outcome {
    byAge: number[];
    forSpace: number[];
    freedBytes: number;
    usageAfter: number;
    failed: string[];
    stopped: boolean;
}

async function deleteForReal(scan: MediaScan, byAge: number[], target: number | null, recentSince: number, now: () => number, signal: AbortSignal | undefined): Promise<Outcome> {
    const aged = await removeRecordings(scan, byAge, { now, signal });
    const outcome: Outcome = { byAge: aged.removed, forSpace: [], freedBytes: aged.freedBytes, usageAfter: 0, failed: aged.failed, stopped: false };
    let usage = await diskUsageFor(scan.root).then((measured) => measured.usage);
    if (target !== null && scan.exists) {
        const tried = new Set(byAge);
        const oldest = Array.from(scan.files.oldestFirst()).filter((i) => !tried.has(i) && scan.files.mtimeMs(i) <= recentSince);
        let next = 0;
        while (usage.used_percent >= target && next < oldest.length && !signal?.aborted) {
            // Enough of the oldest to get below the target by the blocks they hold; then measure, and go on if the disk disagrees.
            const needed = usage.used_bytes - (target / 100) * (usage.used_bytes + usage.free_bytes);
            const round: number[] = [];
            for (let planned = 0; next < oldest.length && (round.length === 0 || planned <= needed); next++) {
                round.push(oldest[next]);
                planned += scan.files.allocatedBytes(oldest[next]);
            }
            const removed = await removeRecordings(scan, round, { now, signal });
            outcome.forSpace.push(...removed.removed);
            outcome.freedBytes += removed.freedBytes;
            outcome.failed.push(...removed.failed);
            usage = await diskUsage(scan.root);
        }
    }
    outcome.usageAfter = usage.used_percent;
    outcome.stopped = signal?.aborted === true;
    return outcome;
}

/** A dry run: the same choice, with the disk's usage estimated from the blocks each file holds. */
function planOnly(scan: MediaScan, byAge: number[], before: DiskUsage, target: number | null, recentSince: number): Outcome {
    const size = before.used_bytes + before.free_bytes;
    let used = before.used_bytes;
    let freedBytes = 0;
    for (const i of byAge) {
        used -= scan.files.allocatedBytes(i);
        freedBytes += scan.files.size(i);
    }
    const forSpace: number[] = [];
    if (target !== null) {
        const planned = new Set(byAge);
        for (const i of scan.files.oldestFirst()) {
            if (percentOf(used, size - used) < target) break;
            if (planned.has(i) || scan.files.mtimeMs(i) > recentSince) continue;
            forSpace.push(i);
            used -= scan.files.allocatedBytes(i);
            freedBytes += scan.files.size(i);
        }
    }
    return { byAge, forSpace, freedBytes, usageAfter: percentOf(used, size - used), failed: [], stopped: false };
}

/** The alert a disk over a threshold deserves: what the level was, what was done, where usage ended. */
export function alertFor(report: CleanupReport): StorageAlert | null {
    if (report.level === 'ok') return null;
    const opening = report.level === 'critical' ? `Camera disk critically full: ${report.usage_before_percent} % used.` : `Camera disk nearly full: ${report.usage_before_percent} % used.`;
    const did = !report.media_dir_exists
        ? `The media folder ${report.media_dir} does not exist, so there are no recordings to delete.`
        : report.dry_run
          ? `A cleanup would delete ${report.deleted_count} recording(s) (${formatBytes(report.freed_bytes)}), to about ${report.usage_after_percent} %.`
          : `Deleted ${report.deleted_count} of the oldest recording(s) (${formatBytes(report.freed_bytes)}); now ${report.usage_after_percent} % used.`;
    const still =
        report.target_percent !== null && report.usage_after_percent >= report.target_percent
            ? ` Still not below ${report.target_percent} %: other files fill this disk; free space by hand or fit a larger drive.`
            : '';
    return { level: report.level, message: `${opening} ${did}${still}` };
}
