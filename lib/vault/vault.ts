import type { CentralVault, VaultErasure, VaultFacts } from '../central/vault-registry';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { IngestMode } from '../ingest/access';
import { lockerFor, LockerSource } from './database';
import { RouteOptions, vaultRoutes, VaultHandler } from './routes';
import { checkInstallation, eraseCopies, listCopies, recheckCopy, VaultCopy, vaultInstallations } from './store';
import { DEFAULT_EXPIRE_MS, UploadStore } from './uploads';

export interface VaultOptions {
    /** The ingest's data folder: devices.json and operators.json authorise. */
    dataDir: string;
    /** Where the copies and uploads live; a volume every instance mounts. Default: the data folder. */
    folder?: string;
    mode: IngestMode;
    keep: number;
    /** Largest backup accepted, in bytes. */
    maxBytes: number;
    /** Bytes each boat may hold, copies and unfinished uploads together; 0 or absent: automatic (see quotaFor). */
    quotaBytes?: number;
    /** An unfinished upload nobody wrote to for this long is removed. */
    expireMs?: number;
    /** How often each stored copy is hashed again; 0 or absent: only at arrival. */
    checkEveryMs?: number;
    /** The ingest's database setting: a postgres:// URL puts the locks there (several instances); empty keeps them in memory. */
    database?: string;
    onCopy?: (installationId: string, copy: VaultCopy) => void;
    /** A copy found with other bytes than it arrived with. */
    onDamaged?: (installationId: string, copy: VaultCopy) => void;
    onUnexpected?: (err: unknown) => void;
}

/** How often expired uploads are looked for, at most. */
const SWEEP_MS = 10 * 60 * 1000;

/**
 * The central backup vault: its HTTP routes, the uploads' store and locks,
 * the re-hash of stored copies on a schedule, and what the fleet page and a
 * boat's erasure ask of it (`CentralVault`).
 */
export class Vault implements CentralVault {
    readonly handle: VaultHandler;
    private readonly folder: string;
    private readonly locks: LockerSource;
    private readonly uploads: UploadStore;
    private readonly timers: NodeJS.Timeout[] = [];
    private checking: Promise<number> | undefined;

    constructor(
        private readonly options: VaultOptions,
        mountPath = '',
    ) {
        this.folder = options.folder || options.dataDir;
        this.locks = lockerFor(options.database ?? '');
        const expireMs = options.expireMs && options.expireMs > 0 ? options.expireMs : DEFAULT_EXPIRE_MS;
        this.uploads = new UploadStore(this.folder, () => this.locks.get(), { quotaBytes: options.quotaBytes ?? 0, maxBytes: options.maxBytes, keep: options.keep }, expireMs);
        const routeOptions: RouteOptions = { ...options, folder: this.folder };
        this.handle = vaultRoutes(routeOptions, this.uploads, () => this.locks.get(), mountPath);
        this.every(Math.min(SWEEP_MS, expireMs), () => this.uploads.sweep());
        const checkEveryMs = options.checkEveryMs ?? 0;
        if (checkEveryMs > 0) this.every(Math.max(1000, checkEveryMs / 4), () => this.checkCopies(checkEveryMs));
    }

    /**
     * Hashes again every copy not checked for `olderThanMs`, one file at a
     * time, and writes down what it found; how many were found damaged. One
     * instance does it at a time.
     */
    checkCopies(olderThanMs = 0): Promise<number> {
        this.checking ??= this.checkAll(olderThanMs).finally(() => (this.checking = undefined));
        return this.checking;
    }

    async factsFor(installationIds: string[]): Promise<Map<string, VaultFacts>> {
        const facts = new Map<string, VaultFacts>();
        for (const id of installationIds) {
            if (!INSTALLATION_ID_PATTERN.test(id)) continue;
            const copies = await listCopies(this.folder, id);
            facts.set(id, {
                copies: copies.length,
                bytes: copies.reduce((sum, c) => sum + c.size_bytes, 0),
                newest_received_at: copies[0]?.received_at ?? null,
                damaged: copies.filter((c) => c.damaged).length,
            });
        }
        return facts;
    }

    /** Removes a boat's copies with their sidecars and its uploads, finished or not, in its turn. */
    async erase(installationId: string): Promise<VaultErasure> {
        const id = checkInstallation(installationId);
        const release = await this.uploads.holdBoat(id);
        try {
            const { copies, bytes } = await eraseCopies(this.folder, id);
            return { copies, bytes, unfinished_uploads: await this.uploads.eraseBoat(id) };
        } finally {
            await release();
        }
    }

    async close(): Promise<void> {
        for (const timer of this.timers.splice(0)) clearInterval(timer);
        await this.checking?.catch(() => undefined);
        await this.locks.close();
    }

    private every(ms: number, work: () => Promise<unknown>): void {
        const timer = setInterval(() => void work().catch((err) => this.options.onUnexpected?.(err)), ms);
        timer.unref();
        this.timers.push(timer);
    }

    private async checkAll(olderThanMs: number): Promise<number> {
        const release = await (await this.locks.get()).tryHold('vault-check');
        if (!release) return 0;
        let damaged = 0;
        try {
            const due = Date.now() - olderThanMs;
            for (const id of await vaultInstallations(this.folder)) {
                for (const copy of await listCopies(this.folder, id)) {
                    if (copy.checked_at && Date.parse(copy.checked_at) > due) continue;
                    if (await recheckCopy(this.folder, id, copy)) continue;
                    damaged += 1;
                    if (!copy.damaged) this.options.onDamaged?.(id, { ...copy, damaged: true });
                }
            }
        } finally {
            await release();
        }
        return damaged;
    }
}
