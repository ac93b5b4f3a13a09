import * as fs from 'fs';

/**
 * How many connections the boat's web server holds open at once. Each one is a
 * file descriptor; a guest who opens some 20,000 idle sockets uses them all,
 * and then the helm's own page cannot connect (nor can a database file open)
 * until Node's header timeout frees them. So each client address may hold a
 * few hundred, all others together a share of the process's descriptor limit,
 * and the helm's own addresses (loopback) have an allowance of their own that
 * no other client uses up.
 */
export interface ConnectionLimits {
    /** Open connections one client address (other than the helm's) may hold. */
    perAddress: number;
    /** Open connections all other clients together may hold. */
    total: number;
    /** Open connections the helm's own addresses may hold, beside the others. */
    helm: number;
}

const HELM_ADDRESSES = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** The soft limit on open files of this process (Linux), or null when it cannot be read. */
export function openFileLimit(limits = '/proc/self/limits'): number | null {
    try {
        const found = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync(limits, 'utf8'));
        if (!found) return null;
        return found[1] === 'unlimited' ? Infinity : Number(found[1]);
    } catch {
        return null;
    }
}

/** Limits that leave at least a quarter of the descriptors to files, databases and the helm. */
export function connectionLimits(fileLimit = openFileLimit() ?? 1024): ConnectionLimits {
    const total = Math.max(64, Math.min(4096, Math.floor(fileLimit / 2)));
    return { total, perAddress: Math.min(256, total), helm: Math.max(16, Math.min(512, Math.floor(fileLimit / 8))) };
}

export class ConnectionCap {
    private readonly open = new Map<string, number>();
    private others = 0;

    constructor(readonly limits: ConnectionLimits) {}

    /** Counts a new connection from `address` in, or says it is one too many (then it must be closed). */
    admit(address: string | undefined): boolean {
        const who = (address ?? '').toLowerCase();
        const helm = HELM_ADDRESSES.has(who);
        const held = this.open.get(who) ?? 0;
        if (held >= (helm ? this.limits.helm : this.limits.perAddress)) return false;
        if (!helm && this.others >= this.limits.total) return false;
        this.open.set(who, held + 1);
        if (!helm) this.others++;
        return true;
    }

    /** A connection admitted from `address` has closed. */
    release(address: string | undefined): void {
        const who = (address ?? '').toLowerCase();
        const held = this.open.get(who) ?? 0;
        if (held <= 1) this.open.delete(who);
        else this.open.set(who, held - 1);
        if (held > 0 && !HELM_ADDRESSES.has(who)) this.others--;
    }
}
