import { promises as fs } from 'fs';
import * as path from 'path';
import { BoatDataError, errorCode } from '../errors';
import { writeJsonAtomic } from '../files/atomic';

/** How often backups are made automatically, as chosen on the dashboard. */
export type BackupSchedule = 'off' | 'daily' | 'weekly';

export const SCHEDULES: readonly BackupSchedule[] = ['off', 'daily', 'weekly'];

/** Daily at 02:00, weekly on Sunday at 02:00, boat-local time. */
const CRON: Record<Exclude<BackupSchedule, 'off'>, string> = {
    daily: '0 2 * * *',
    weekly: '0 2 * * 0',
};

export function cronFor(schedule: BackupSchedule): string | null {
    return schedule === 'off' ? null : CRON[schedule];
}

export function parseSchedule(value: unknown): BackupSchedule {
    if (typeof value === 'string' && (SCHEDULES as readonly string[]).includes(value.trim().toLowerCase())) {
        return value.trim().toLowerCase() as BackupSchedule;
    }
    throw new BoatDataError('SCHEDULE_INVALID', `automatic backups can be "off", "daily" or "weekly", not ${JSON.stringify(value)}`, 400);
}

export function scheduleFile(root: string): string {
    return path.join(root, 'config', 'backup-schedule.json');
}

/** The stored choice, or null when none was ever made (the node's default then applies). */
export async function readSchedule(file: string): Promise<BackupSchedule | null> {
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return null;
        throw new BoatDataError('SCHEDULE_UNREADABLE', `the backup schedule in ${file} cannot be read (${errorCode(err)})`, 500);
    }
    try {
        return parseSchedule(JSON.parse(text).schedule);
    } catch {
        throw new BoatDataError('SCHEDULE_UNREADABLE', `the backup schedule in ${file} is damaged; choose the schedule again`, 500);
    }
}

export async function writeSchedule(file: string, schedule: BackupSchedule, now = new Date()): Promise<void> {
    await writeJsonAtomic(file, { schedule, cron: cronFor(schedule), updated_at: now.toISOString() });
}
