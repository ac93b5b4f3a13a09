import { promises as fs } from 'fs';

/**
 * Live databases this process holds an SQLite lock on (real paths; a restore
 * holds them while it takes its safety backup). This process must not open
 * and close them by other means meanwhile: closing any descriptor of a file
 * drops every POSIX lock the process holds on it, SQLite's included, and
 * other writers would walk in.
 */
export const heldDatabases = new Set<string>();

export async function isHeldDatabase(file: string): Promise<boolean> {
    return heldDatabases.size > 0 && heldDatabases.has(await fs.realpath(file).catch(() => file));
}
