import type { BoatLayout } from '../boat/layout';
import { looksRemovable } from './drive';
import type { EncryptChoice } from './encryption';

/** Where a boat's Node-RED and Signal K keep what a backup takes beside the data root. */
export const DEFAULT_FLOWS_FILE = '/home/d3kos/.node-red/flows.json';
export const DEFAULT_SIGNALK_SETTINGS = '/home/d3kos/.signalk/settings.json';
export const DEFAULT_SIGNALK_PLUGIN_CONFIG = '/home/d3kos/.signalk/plugin-config-data';
export const DEFAULT_KEEP = 10;

export interface BackupSettings {
    /** The boat: data root, backup folder, media folder (never backed up), secret files. */
    layout: BoatLayout;
    /** Node-RED's flows file; undefined for the d3kOS default, null to leave it out. */
    flowsFile?: string | null;
    signalkSettings?: string | null;
    signalkPluginConfig?: string | null;
    /** How many backups to keep (the oldest go first). */
    keep?: number;
    /** The d3kOS version to record; default: license.json's `version`. */
    version?: string;
    /** Refuse to write unless the backup folder is on a mounted drive; default: yes for /media, /mnt, /run/media. */
    requireMountedDrive?: boolean;
    /** The clock, for tests. */
    now?: () => Date;
    /** Encrypted backups (encryption.ts): `auto` encrypts once a recovery key exists. */
    encrypt?: EncryptChoice;
    /** Keys beyond the boat's own that may open an encrypted backup (the recovery key, never stored). */
    identities?: string[];
}

export interface ResolvedSettings {
    layout: BoatLayout;
    flowsFile: string | null;
    signalkSettings: string | null;
    signalkPluginConfig: string | null;
    keep: number;
    version?: string;
    requireMountedDrive: boolean;
    now: () => Date;
    encrypt: EncryptChoice;
    identities: string[];
}

export function resolveSettings(settings: BackupSettings): ResolvedSettings {
    const pick = (value: string | null | undefined, fallback: string) => (value === undefined ? fallback : value ? value : null);
    const keep = settings.keep ?? DEFAULT_KEEP;
    return {
        layout: settings.layout,
        flowsFile: pick(settings.flowsFile, DEFAULT_FLOWS_FILE),
        signalkSettings: pick(settings.signalkSettings, DEFAULT_SIGNALK_SETTINGS),
        signalkPluginConfig: pick(settings.signalkPluginConfig, DEFAULT_SIGNALK_PLUGIN_CONFIG),
        keep: Number.isInteger(keep) && keep >= 1 ? keep : DEFAULT_KEEP,
        version: settings.version || undefined,
        requireMountedDrive: settings.requireMountedDrive ?? looksRemovable(settings.layout.backupDir),
        now: settings.now ?? (() => new Date()),
        encrypt: settings.encrypt ?? 'auto',
        identities: settings.identities ?? [],
    };
}
