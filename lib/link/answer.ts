import type { CategoryKey } from '../categories';
import { formatBytes } from '../format';
import type { QueueEntry } from '../queue/entries';
import { BULK_CATEGORIES, describeCategories, entryClass, plainSize } from '../queue/parts';
import type { LinkKind } from './choice';
import { BoatLink, HEADER_ALLOWANCE_BYTES } from './link';
import type { LinkSuggestion } from './network-manager';

export interface Waiting {
    class: 'bulk' | 'backup';
    what: string;
    bytes: number;
    /** For the page, as it stands: "Telemetry waits for Wi-Fi: 14 MB". */
    text: string;
}

/** The GET and POST /api/link answer (the contract the Data Management page reads). */
export interface LinkAnswer {
    success: true;
    kind: LinkKind;
    daily_budget_mb: number | null;
    allow_backups: boolean;
    bytes_today: number;
    budget_left_bytes: number | null;
    waiting: Waiting[];
    suggestion: LinkSuggestion | null;
}

/** An off-boat copy waiting to go (lib/offboat/state.ts's pending). */
export interface WaitingCopy {
    name: string;
    size_bytes: number;
}

/**
 * What the link is, what it carried today, and what waits for an unmetered
 * one: bulk uploads past the day's budget, and an off-boat copy while
 * backups are not allowed over it.
 */
export async function linkAnswer(link: BoatLink, pending: QueueEntry[], copy: WaitingCopy | null, suggestion: LinkSuggestion | null): Promise<LinkAnswer> {
    const choice = await link.choice();
    const bytesToday = await link.bytesToday();
    const left = await link.budgetLeft();
    const waiting: Waiting[] = [];
    if (choice.kind === 'metered') {
        const held = pending.filter((e) => entryClass(e) === 'bulk' && cost(e) + HEADER_ALLOWANCE_BYTES > (left ?? 0));
        if (held.length > 0) {
            const keys = new Set<CategoryKey>();
            for (const entry of held) for (const key of entry.layout?.with_data ?? entry.with_data ?? BULK_CATEGORIES) if (BULK_CATEGORIES.includes(key)) keys.add(key);
            const what = describeCategories(BULK_CATEGORIES.filter((key) => keys.has(key)));
            const bytes = held.reduce((n, e) => n + cost(e), 0);
            waiting.push({ class: 'bulk', what, bytes, text: `${what} ${keys.size > 1 ? 'wait' : 'waits'} for Wi-Fi: ${formatBytes(bytes)}` });
        }
        if (copy && !choice.allow_backups) {
            waiting.push({ class: 'backup', what: 'Off-boat backup copy', bytes: copy.size_bytes, text: `The off-boat backup copy waits for Wi-Fi: ${formatBytes(copy.size_bytes)}` });
        }
    }
    return {
        success: true,
        kind: choice.kind,
        daily_budget_mb: choice.daily_budget_mb,
        allow_backups: choice.allow_backups,
        bytes_today: bytesToday,
        budget_left_bytes: left,
        waiting,
        suggestion,
    };
}

/** What an upload will cost: measured once held back, else its plain size (an upper bound). */
function cost(entry: QueueEntry): number {
    return entry.wire?.bytes ?? plainSize(entry);
}
