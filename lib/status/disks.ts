import type { BoatLayout } from '../boat/layout';
import { diskUsageFor, roundPercent } from '../media/disk';
import { DEFAULT_POLICY, DiskLevel, levelOf } from '../media/policy';
import { cachedCheck } from './cached-check';
import { DISK_CHECK_EVERY_MS, LOW_SPACE_BYTES } from './disk-check';

/** One of the boat's disks as /health tells it: free space and how urgent it is (amber at 90 % used, red at 95 %, as the camera cleanup). */
export interface DiskFacts {
    folder: 'data' | 'backup' | 'camera';
    free_bytes: number | null;
    total_bytes: number | null;
    used_percent: number | null;
    level: DiskLevel | 'unknown';
    /** The disk shared with another of the three (a backup folder on the SD card, not a USB stick). */
    same_disk_as: 'data' | 'backup' | null;
    problem: string | null;
}

/** The data disk (the data root), the backup disk and the camera disk, each asked at most every few seconds. */
export async function boatDisks(layout: BoatLayout): Promise<DiskFacts[]> {
    const folders = [
        { folder: 'data' as const, dir: layout.root },
        { folder: 'backup' as const, dir: layout.backupDir },
        { folder: 'camera' as const, dir: layout.mediaDir },
    ];
    const answers = await Promise.all(folders.map(({ dir }) => cachedCheck(`disk-usage:${dir}`, () => diskUsageFor(dir), { freshMs: DISK_CHECK_EVERY_MS, staleMs: 30_000, waitMs: 2000 }).get()));
    const devices: Array<{ folder: DiskFacts['folder']; total: number; free: number }> = [];
    return answers.map((answer, i) => {
        const folder = folders[i].folder;
        if (!answer.ok) return { folder, free_bytes: null, total_bytes: null, used_percent: null, level: 'unknown', same_disk_as: null, problem: `the ${folder} disk cannot be measured` };
        const { usage } = answer.value;
        // Same size and free space: the same file system (statfs gives no device id).
        const twin = devices.find((d) => d.total === usage.total_bytes && Math.abs(d.free - usage.free_bytes) < 1024 * 1024);
        devices.push({ folder, total: usage.total_bytes, free: usage.free_bytes });
        let level = levelOf(usage.used_percent, DEFAULT_POLICY);
        if (folder === 'data' && usage.free_bytes < LOW_SPACE_BYTES) level = 'critical';
        return {
            folder,
            free_bytes: usage.free_bytes,
            total_bytes: usage.total_bytes,
            used_percent: roundPercent(usage.used_percent),
            level,
            // Only an earlier folder can be the twin, and camera comes last: data or backup.
            same_disk_as: twin ? (twin.folder as 'data' | 'backup') : null,
            problem: null,
        };
    });
}
