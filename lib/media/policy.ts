import { BoatDataError } from '../errors';

/**
 * How long camera recordings are kept and how full the disk may get. The
 * defaults follow the d3kOS retention rules: a week of recordings; at 90 %
 * the oldest go until the disk is below 80 %; at 95 % (critical, the helm
 * computer is close to stopping) until it is below 85 %.
 */
export interface RetentionPolicy {
    maxAgeDays: number;
    /** Lower case, with the dot: `.jpg`. */
    extensions: string[];
    warningPercent: number;
    warningTargetPercent: number;
    criticalPercent: number;
    criticalTargetPercent: number;
}

export const DEFAULT_POLICY: RetentionPolicy = {
    maxAgeDays: 7,
    extensions: ['.jpg', '.mp4'],
    warningPercent: 90,
    warningTargetPercent: 80,
    criticalPercent: 95,
    criticalTargetPercent: 85,
};

/** The ages the editor and the dashboard offer; any whole number of days up to a year is accepted. */
export const MAX_AGE_CHOICES = [3, 7, 14, 30];
const MAX_AGE_LIMIT_DAYS = 365;

/** A file changed this recently is still being recorded: never touched. */
export const RECENT_MS = 60 * 1000;

export function parseMaxAgeDays(value: unknown, where = 'max_age_days'): number {
    const days = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_AGE_LIMIT_DAYS) {
        throw new BoatDataError(
            'MAX_AGE_INVALID',
            `${where} must be a whole number of days from 1 to ${MAX_AGE_LIMIT_DAYS} (usually ${MAX_AGE_CHOICES.join(', ')}); got ${JSON.stringify(value)}`,
            400,
        );
    }
    return days;
}

/** "jpg, .MP4 jpeg" or ['jpg', 'mp4'] → ['.jpg', '.mp4', '.jpeg']. */
export function parseExtensions(value: unknown): string[] {
    const parts = (Array.isArray(value) ? value.map(String) : String(value ?? '').split(/[\s,;]+/)).map((part) => part.trim()).filter(Boolean);
    const bad = parts.filter((part) => !/^(\*?\.)?[A-Za-z0-9]{1,10}$/.test(part));
    const extensions = [...new Set(parts.map((part) => part.replace(/^\*?\./, '').toLowerCase()))];
    if (extensions.length === 0 || bad.length > 0) {
        throw new BoatDataError(
            'EXTENSIONS_INVALID',
            bad.length > 0 ? `media file types must be plain extensions such as jpg or mp4; "${bad.join('", "')}" is not one` : 'no media file types are set; name at least one, such as jpg or mp4',
            400,
        );
    }
    return extensions.map((ext) => `.${ext}`);
}

/** A complete, checked policy from partial settings (the node's fields arrive as strings). */
export function resolvePolicy(settings: Partial<Record<keyof RetentionPolicy, unknown>> = {}): RetentionPolicy {
    const percent = (value: unknown, fallback: number, name: string): number => {
        if (value === undefined || value === null || value === '') return fallback;
        const n = Number(value);
        if (!Number.isFinite(n) || n <= 0 || n > 100) {
            throw new BoatDataError('THRESHOLD_INVALID', `${name} must be a percentage above 0 and at most 100; got ${JSON.stringify(value)}`, 400);
        }
        return n;
    };
    const policy: RetentionPolicy = {
        maxAgeDays: settings.maxAgeDays === undefined || settings.maxAgeDays === '' ? DEFAULT_POLICY.maxAgeDays : parseMaxAgeDays(settings.maxAgeDays, 'the maximum age'),
        extensions: settings.extensions === undefined || settings.extensions === '' ? DEFAULT_POLICY.extensions : parseExtensions(settings.extensions),
        warningPercent: percent(settings.warningPercent, DEFAULT_POLICY.warningPercent, 'the warning threshold'),
        warningTargetPercent: percent(settings.warningTargetPercent, DEFAULT_POLICY.warningTargetPercent, 'the warning target'),
        criticalPercent: percent(settings.criticalPercent, DEFAULT_POLICY.criticalPercent, 'the critical threshold'),
        criticalTargetPercent: percent(settings.criticalTargetPercent, DEFAULT_POLICY.criticalTargetPercent, 'the critical target'),
    };
    if (policy.warningTargetPercent >= policy.warningPercent || policy.criticalTargetPercent >= policy.criticalPercent) {
        throw new BoatDataError('THRESHOLD_INVALID', 'each target must be below its threshold (cleanup at 90 % frees space until below 80 %)', 400);
    }
    if (policy.criticalPercent < policy.warningPercent) {
        throw new BoatDataError('THRESHOLD_INVALID', `the critical threshold (${policy.criticalPercent} %) must not be below the warning threshold (${policy.warningPercent} %)`, 400);
    }
    return policy;
}

export type DiskLevel = 'ok' | 'warning' | 'critical';

export function levelOf(usedPercent: number, policy: RetentionPolicy): DiskLevel {
    if (usedPercent >= policy.criticalPercent) return 'critical';
    if (usedPercent >= policy.warningPercent) return 'warning';
    return 'ok';
}

/** Below which usage a cleanup at this level stops deleting; null when the disk needs no room made. */
export function targetFor(level: DiskLevel, policy: RetentionPolicy): number | null {
    if (level === 'critical') return policy.criticalTargetPercent;
    if (level === 'warning') return policy.warningTargetPercent;
    return null;
}
