import { promises as fs } from 'fs';
import * as path from 'path';
import { writeJsonAtomic } from '../files/atomic';
import { errorCode } from '../errors';
import { LinkChoice, parseLinkSetting, readChoice } from './choice';
import { SocketMeter } from './meter';

/** A budget's megabyte, as carriers bill it. */
export const MB = 1_000_000;

/** What one upload's request and answer headers cost on the wire, at most: counted into a metered link's budget beside its body. */
export const HEADER_ALLOWANCE_BYTES = 2048;

/** data/link.json: the owner's choice and the bytes counted today, each day the boat's own (local time). */
interface LinkFile {
    version: 1;
    choice: LinkChoice | null;
    day: string;
    bytes_today: number;
    /** Bytes set aside for uploads under way: a crash leaves them counted, never under-counted. */
    reserved: number;
    updated_at: string;
}

export function linkFileFor(root: string): string {
    return path.join(root, 'data', 'link.json');
}

/** The boat-local calendar day, `2026-12-07`. */
export function boatDay(now: Date): string {
    const two = (n: number) => String(n).padStart(2, '0');
    return `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`;
}

/**
 * The boat's link: what the owner chose (or D3KOS_LINK), and today's bytes
 * counted at the socket. One per link file in this process, shared by the
 * upload queue and the off-boat copy, so both count into one budget.
 */
export class BoatLink {
    readonly meter: SocketMeter;
    private state: LinkFile | null = null;
    private loading: Promise<void> | null = null;
    private saving: Promise<void> = Promise.resolve();
    private dirty = false;
    private readonly listeners = new Set<() => void>();

    constructor(
        readonly file: string,
        private readonly defaultSetting: () => string | undefined = () => process.env.D3KOS_LINK,
        private readonly clock: () => Date = () => new Date(),
    ) {
        this.meter = new SocketMeter((bytes) => this.add(bytes));
    }

    /** The choice in force: the owner's, else the installer's default. */
    async choice(): Promise<LinkChoice> {
        await this.load();
        return this.state!.choice ?? parseLinkSetting(this.defaultSetting());
    }

    /** The default as the installer set it; a D3KOS_LINK that cannot be read means unmetered, and says so here. */
    defaultProblem(): string | null {
        try {
            parseLinkSetting(this.defaultSetting());
            return null;
        } catch (err) {
            return (err as Error).message;
        }
    }

    async setChoice(choice: LinkChoice): Promise<void> {
        await this.load();
        this.state!.choice = choice;
        await this.save();
        for (const listener of this.listeners) listener();
    }

    /** Called when the owner changes the link (a switch to unmetered sends what waits). */
    onChange(listener: () => void): () => void {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
    }

    async bytesToday(): Promise<number> {
        await this.load();
        this.meter.settle();
        this.rollDay();
        return this.state!.bytes_today + this.state!.reserved;
    }

    /** What the day's budget still allows; null for no limit (unmetered). */
    async budgetLeft(): Promise<number | null> {
        const choice = await this.choice();
        if (choice.kind === 'unmetered') return null;
        return Math.max(0, (choice.daily_budget_mb ?? 0) * MB - (await this.bytesToday()));
    }

    /**
     * Counts an upload's cost before a byte of it goes, durably: a crash
     * mid-upload leaves it counted. `release` swaps it for what the sockets carried.
     */
    async reserve(bytes: number): Promise<() => Promise<void>> {
        await this.load();
        this.rollDay();
        this.state!.reserved += bytes;
        await this.save();
        const day = this.state!.day;
        return async () => {
            this.meter.settle();
            if (this.state!.day === day) this.state!.reserved = Math.max(0, this.state!.reserved - bytes);
            await this.save();
        };
    }

    /** Waits for the counts to be on disk. */
    flush(): Promise<void> {
        this.meter.settle();
        return this.state ? this.save() : Promise.resolve();
    }

    private add(bytes: number): void {
        if (!this.state) {
            // Counted before the file was read: kept until it is.
            void this.load().then(
                () => this.add(bytes),
                () => undefined,
            );
            return;
        }
        this.rollDay();
        this.state.bytes_today += bytes;
        void this.save().catch(() => undefined);
    }

    private rollDay(): void {
        const today = boatDay(this.clock());
        if (this.state!.day !== today) {
            this.state!.day = today;
            this.state!.bytes_today = 0;
            this.state!.reserved = 0;
        }
    }

    private load(): Promise<void> {
        this.loading ??= (async () => {
            const now = this.clock();
            let stored: Partial<LinkFile> = {};
            try {
                const parsed = JSON.parse(await fs.readFile(this.file, 'utf8'));
                if (typeof parsed === 'object' && parsed !== null) stored = parsed;
            } catch (err) {
                // A missing or damaged file: the default applies, and the day's count starts from what is known.
                if (errorCode(err) !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
            }
            const today = boatDay(now);
            const sameDay = stored.day === today;
            const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
            this.state = {
                version: 1,
                choice: readChoice(stored.choice),
                day: today,
                // What a run cut short had reserved stays counted.
                bytes_today: sameDay ? count(stored.bytes_today) + count(stored.reserved) : 0,
                reserved: 0,
                updated_at: now.toISOString(),
            };
        })().catch((err) => {
            this.loading = null;
            throw err;
        });
        return this.loading;
    }

    /** One write at a time; counts that come during a write go in the next one. */
    private save(): Promise<void> {
        this.dirty = true;
        this.saving = this.saving.then(async () => {
            if (!this.dirty) return;
            this.dirty = false;
            this.state!.updated_at = this.clock().toISOString();
            await writeJsonAtomic(this.file, this.state);
        });
        const saved = this.saving;
        this.saving = saved.catch(() => undefined);
        return saved;
    }
}

const links = new Map<string, BoatLink>();

/** Every user of one boat's link file shares one BoatLink (and one count). */
export function boatLink(root: string): BoatLink {
    const file = linkFileFor(root);
    let link = links.get(file);
    if (!link) {
        link = new BoatLink(file);
        links.set(file, link);
    }
    return link;
}
