import { diskUsageFor, DiskUsage, roundPercent } from './disk';
import { DiskLevel, levelOf, RetentionPolicy } from './policy';
import { scanMedia } from './scan';

export interface DiskCheck {
    media_dir: string;
    media_dir_exists: boolean;
    disk: DiskUsage;
    level: DiskLevel;
}

/** The cheap check run every few minutes: one statfs, no walk. */
export async function checkDisk(mediaDir: string, policy: RetentionPolicy): Promise<DiskCheck> {
    const { usage, exists } = await diskUsageFor(mediaDir);
    return {
        media_dir: mediaDir,
        media_dir_exists: exists,
        disk: { ...usage, used_percent: roundPercent(usage.used_percent) },
        level: levelOf(usage.used_percent, policy),
    };
}

export interface MediaStatus extends DiskCheck {
    media_files: number;
    media_bytes: number;
    skipped_links: number;
    unreadable: string[];
}

/** The disk and what the recordings take of it (a walk that counts, keeping no list). */
export async function mediaStatus(mediaDir: string, policy: RetentionPolicy, signal?: AbortSignal): Promise<MediaStatus> {
    const check = await checkDisk(mediaDir, policy);
    const scan = await scanMedia(mediaDir, { extensions: policy.extensions, signal });
    return {
        ...check,
        media_dir_exists: scan.exists,
        media_files: scan.count,
        media_bytes: scan.bytes,
        skipped_links: scan.skippedLinks,
        unreadable: scan.unreadable,
    };
}
