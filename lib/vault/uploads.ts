import { promises as fs } from 'fs';
import * as path from 'path';
import { FileStore } from '@tus/file-store';
import type { Upload } from '@tus/server';
import { BoatDataError } from '../errors';
import { formatBytes } from '../format';
import type { VaultLocker } from './locker';
import { listCopies, uploadsDir } from './store';

/**
 * The uploads under way, in tus's file store on the vault folder
 * (`backup-uploads/<installation>-<24 hex>` and its `.json` info file), so
 * every central instance on a shared folder reads the same state.
 *
 * A boat may hold a quota of bytes in the vault, its copies and its
 * unfinished uploads together: an upload reserves its whole `Upload-Length`
 * when it is made, so a PATCH never writes a byte past it. An unfinished
 * upload nobody has written to for `expireMs` is removed, and one idle for
 * ABANDONED_MS sooner when its boat's next upload needs the room.
 */
export const DEFAULT_EXPIRE_MS = 6 * 60 * 60 * 1000;
export const UPLOAD_ID = /^([0-9a-f]{16})-[0-9a-f]{24}$/;
/** An unfinished upload not written to for this long gives way to a new upload of its boat that would not fit beside it. */
export const ABANDONED_MS = 10 * 60 * 1000;

export interface QuotaRule {
    /** A fixed quota per boat in bytes; 0 for the automatic one. */
    quotaBytes: number;
    /** Largest backup the vault takes: also the least any boat may hold, so a first backup always fits. */
    maxBytes: number;
    keep: number;
}

/**
 * The automatic quota: room for the copies a boat keeps, one arriving and
 * one abandoned, each as large as its largest so far; never less than one
 * backup of the largest size the vault takes.
 */
export function quotaFor(rule: QuotaRule, largestCopy: number): number {
    if (rule.quotaBytes > 0) return rule.quotaBytes;
    return Math.max(rule.maxBytes, (rule.keep + 2) * largestCopy);
}

interface Unfinished {
    id: string;
    /** Bytes it reserved (its Upload-Length). */
    size: number;
    idleMs: number;
}

export class UploadStore extends FileStore {
    constructor(
        private readonly folder: string,
        private readonly locker: () => Promise<VaultLocker>,
        private readonly rule: QuotaRule,
        private readonly expireMs: number,
    ) {
        super({ directory: uploadsDir(folder) });
        // No deferred length: every upload says its size when it is made, and the quota reserves it.
        this.extensions = ['creation', 'creation-with-upload', 'termination', 'expiration'];
    }

    /** Makes the upload if the boat's quota has room for all of it; one creation per boat at a time, on every instance. */
    override async create(upload: Upload): Promise<Upload> {
        const installation = UPLOAD_ID.exec(upload.id)![1];
        const release = await this.holdBoat(installation);
        try {
            const copies = await listCopies(this.folder, installation);
            const stored = copies.reduce((sum, c) => sum + c.size_bytes, 0);
            const quota = quotaFor(this.rule, Math.max(0, ...copies.map((c) => c.size_bytes)));
            const size = upload.size ?? 0;
            let unfinished = await this.unfinished(installation);
            const held = () => stored + unfinished.reduce((sum, u) => sum + u.size, 0);
            // A boat sends one backup at a time: an upload of its own that has not moved for a while was given up
            // for this one (a newer backup), and makes room for it rather than have it refused.
            for (const stale of unfinished.filter((u) => u.idleMs >= ABANDONED_MS).sort((x, y) => y.idleMs - x.idleMs)) {
                if (held() + size <= quota) break;
                const free = await (await this.locker()).tryHold(stale.id);
                if (!free) continue;
                await this.removeFiles(stale.id).finally(free);
                unfinished = unfinished.filter((u) => u !== stale);
            }
            if (held() + size > quota) {
                throw new BoatDataError(
                    'VAULT_QUOTA',
                    `installation ${installation} may keep ${formatBytes(quota)} in the vault (its copies and unfinished uploads together); it holds ${formatBytes(held())}, and this upload of ${formatBytes(size)} would pass that. The operator can raise the quota on the backup vault node`,
                    413,
                );
            }
            return await super.create(upload);
        } finally {
            await release();
        }
    }

    /** tus's own expiry counts from creation; the vault's counts from the last byte written (see `sweep`). */
    override getExpiration(): number {
        return 0;
    }

    expiresAt(now = Date.now()): string {
        return new Date(now + this.expireMs).toUTCString();
    }

    /** A boat's unfinished uploads that have not expired. */
    async unfinished(installation: string | null, now = Date.now()): Promise<Unfinished[]> {
        const found: Unfinished[] = [];
        for (const name of await fs.readdir(this.directory).catch(() => [] as string[])) {
            const match = UPLOAD_ID.exec(name);
            if (!match || (installation !== null && match[1] !== installation)) continue;
            const file = path.join(this.directory, name);
            const [data, info] = await Promise.all([fs.stat(file).catch(() => null), fs.readFile(file + '.json', 'utf8').catch(() => null)]);
            if (!data || info === null) continue;
            const size = Number((JSON.parse(info) as { size?: unknown }).size);
            const idleMs = now - data.mtimeMs;
            if (idleMs < this.expireMs) found.push({ id: name, size: Number.isFinite(size) ? size : data.size, idleMs });
        }
        return found;
    }

    /**
     * Removes what is left of uploads nobody wrote to for `expireMs`, and
     * halves of one (an info file without its data, or data without its
     * info) as old. An upload a request holds is left alone.
     */
    async sweep(now = Date.now()): Promise<string[]> {
        const removed: string[] = [];
        const names = await fs.readdir(this.directory).catch(() => [] as string[]);
        const ids = new Set(names.map((name) => name.replace(/\.json$/, '')));
        for (const id of ids) {
            if (id.startsWith('.')) continue;
            const stats = await Promise.all([id, `${id}.json`].map((name) => fs.stat(path.join(this.directory, name)).catch(() => null)));
            const newest = Math.max(...stats.map((s) => s?.mtimeMs ?? 0));
            if (now - newest < this.expireMs) continue;
            const release = await (await this.locker()).tryHold(id);
            if (!release) continue;
            try {
                await this.removeFiles(id);
                removed.push(id);
            } catch {
                // Not an upload's file (a folder someone put there): left for the operator.
            } finally {
                await release();
            }
        }
        return removed;
    }

    /** Removes every upload of a boat, finished or not; how many there were. */
    async eraseBoat(installation: string): Promise<number> {
        const names = await fs.readdir(this.directory).catch(() => [] as string[]);
        const ids = new Set(names.map((name) => name.replace(/\.json$/, '')).filter((id) => UPLOAD_ID.exec(id)?.[1] === installation));
        for (const id of ids) await this.removeFiles(id);
        return ids.size;
    }

    /** The files of one upload, once it has become a copy or been abandoned. */
    async removeFiles(id: string): Promise<void> {
        await fs.rm(path.join(this.directory, id), { force: true });
        await fs.rm(path.join(this.directory, `${id}.json`), { force: true });
    }

    dataFile(id: string): string {
        return path.join(this.directory, id);
    }

    /** The boat's lock: its quota, its copies arriving and its erasure take turns. */
    async holdBoat(installation: string): Promise<() => Promise<void>> {
        const lock = (await this.locker()).newLock(`boat:${installation}`);
        await lock.lock(new AbortController().signal, () => undefined);
        return () => lock.unlock();
    }
}
