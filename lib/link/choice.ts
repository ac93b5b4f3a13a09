import { BoatDataError } from '../errors';

export type LinkKind = 'unmetered' | 'metered';

/** What the owner says of the boat's link: paid by the megabyte or not, and what may go over it. */
export interface LinkChoice {
    kind: LinkKind;
    /** Megabytes a day for bulk data on a metered link; null when unmetered or no budget is set (then no bulk goes). */
    daily_budget_mb: number | null;
    /** Backups' off-boat copies over a metered link. */
    allow_backups: boolean;
}

export const UNMETERED: LinkChoice = { kind: 'unmetered', daily_budget_mb: null, allow_backups: true };

/**
 * The installer's default from D3KOS_LINK: `unmetered`, `metered` or
 * `metered:20` (20 MB a day). Empty means unmetered, as boats were before.
 */
export function parseLinkSetting(text: string | undefined): LinkChoice {
    const value = (text ?? '').trim().toLowerCase();
    if (value === '' || value === 'unmetered') return { ...UNMETERED };
    const m = /^metered(?::(\d+(?:\.\d+)?))?$/.exec(value);
    if (!m) throw new BoatDataError('LINK_SETTING_INVALID', `D3KOS_LINK "${text}" is not understood; use "unmetered", "metered" or "metered:20" (20 MB a day)`, 400);
    return { kind: 'metered', daily_budget_mb: m[1] === undefined ? null : Number(m[1]), allow_backups: false };
}

/** A POST /api/link body (its field types are the request guard's): the missing fields take what a metered link means. */
export function choiceFromBody(body: Record<string, unknown>, current: LinkChoice): LinkChoice {
    if (body.kind !== 'metered' && body.kind !== 'unmetered') {
        throw new BoatDataError('LINK_KIND_INVALID', 'kind must be "unmetered" or "metered"', 400);
    }
    const budget = body.daily_budget_mb;
    if (budget !== undefined && (typeof budget !== 'number' || !Number.isFinite(budget) || budget < 0)) {
        throw new BoatDataError('LINK_BUDGET_INVALID', 'daily_budget_mb must be a number of megabytes, 0 or more', 400);
    }
    const allow = body.allow_backups;
    if (allow !== undefined && typeof allow !== 'boolean') throw new BoatDataError('LINK_BACKUPS_INVALID', 'allow_backups must be true or false', 400);
    if (body.kind === 'unmetered') return { kind: 'unmetered', daily_budget_mb: null, allow_backups: true };
    const keep = current.kind === 'metered';
    return {
        kind: 'metered',
        daily_budget_mb: budget !== undefined ? budget : keep ? current.daily_budget_mb : null,
        allow_backups: allow !== undefined ? allow : keep ? current.allow_backups : false,
    };
}

/** A choice read back from the link file; anything else is null (the default applies). */
export function readChoice(value: unknown): LinkChoice | null {
    if (typeof value !== 'object' || value === null) return null;
    const v = value as Record<string, unknown>;
    if (v.kind !== 'metered' && v.kind !== 'unmetered') return null;
    const budget = typeof v.daily_budget_mb === 'number' && v.daily_budget_mb >= 0 ? v.daily_budget_mb : null;
    return { kind: v.kind, daily_budget_mb: v.kind === 'metered' ? budget : null, allow_backups: v.kind === 'unmetered' || v.allow_backups === true };
}
