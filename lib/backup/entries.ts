import * as path from 'path';
import { AUTH_NAME } from './authenticity';

/**
 * Why a path inside an archive may not be written, or null when it is safe:
 * relative, normalised, no `..`, and under a folder a backup holds.
 */
export function checkEntryPath(entryPath: string, directory = false): string | null {
    if (directory) entryPath = entryPath.replace(/\/+$/, '');
    if (entryPath.length === 0) return 'an empty name';
    if (entryPath.includes('\0')) return 'a name with a NUL character';
    if (entryPath.startsWith('/') || /^[A-Za-z]:/.test(entryPath)) return 'an absolute path';
    if (entryPath.includes('\\')) return 'a name with a backslash';
    const parts = entryPath.split('/');
    if (parts.includes('..')) return 'a path that climbs out of the restore folder';
    if (parts.some((p) => p === '' || p === '.') || path.posix.normalize(entryPath) !== entryPath) return 'a path that is not in plain form';
    if (!directory && !isKnownPlace(entryPath)) return 'a place a d3kOS backup never writes';
    return null;
}

/** The only file a backup takes from the services folder; the rest of it is installed software. */
export const SERVICES_FILE = 'services/dashboard/config/vessel.env';

function isKnownPlace(p: string): boolean {
    if (p === 'manifest.json' || p === AUTH_NAME || p === 'README.txt') return true;
    if (p === 'node-red/flows.json' || p === 'signalk/settings.json' || p === SERVICES_FILE) return true;
    const [top] = p.split('/');
    if (p.startsWith('signalk/plugin-config-data/')) return true;
    return ['config', 'data', 'state'].includes(top) && p.includes('/');
}

/** tar entry types a backup holds. Everything else (links, devices, fifos) is refused. */
export function checkEntryType(type: string): string | null {
    switch (type) {
        case 'File':
        case 'OldFile':
        case 'Directory':
            return null;
        case 'SymbolicLink':
            return 'a symbolic link';
        case 'Link':
            return 'a hard link';
        case 'CharacterDevice':
        case 'BlockDevice':
            return 'a device file';
        case 'FIFO':
            return 'a named pipe (fifo)';
        default:
            return `an entry of type ${type}`;
    }
}
