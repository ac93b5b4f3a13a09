/**
 * The central side's nodes meet here without importing each other: a backup
 * vault node registers what it can tell of a boat's copies and how to erase
 * them; the ingest's fleet page and its erasure of a boat ask every vault
 * registered in this Node-RED. A vault unregisters when its node closes.
 */
export interface VaultFacts {
    copies: number;
    bytes: number;
    /** When the newest copy arrived (UTC ISO), null when the boat has none. */
    newest_received_at: string | null;
    /** Copies whose bytes no longer match their sha256 at the last re-hash. */
    damaged: number;
}

export interface VaultErasure {
    copies: number;
    bytes: number;
    unfinished_uploads: number;
}

export interface CentralVault {
    factsFor(installationIds: string[]): Promise<Map<string, VaultFacts>>;
    erase(installationId: string): Promise<VaultErasure>;
}

const vaults = new Set<CentralVault>();

/** Registers a vault; the answer unregisters it (call it from the node's close). */
export function registerVault(vault: CentralVault): () => void {
    vaults.add(vault);
    return () => {
        vaults.delete(vault);
    };
}

export function registeredVaults(): CentralVault[] {
    return [...vaults];
}
