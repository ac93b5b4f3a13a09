import { BoatDataError } from '../errors';
import { categoryOf, FileCategory, SkippedItem } from './sources';
import { checkEntryPath } from './entries';
import { AUTH_NAME } from './authenticity';

export const MANIFEST_NAME = 'manifest.json';
export const README_NAME = 'README.txt';
export const FORMAT_VERSION = '1.0';

export interface ManifestFile {
    path: string;
    size: number;
    sha256: string;
    /** Permission bits as octal text, e.g. "0644". */
    mode: string;
    kind: 'file' | 'database';
    category: FileCategory;
    /** Secrets replaced by placeholders in this file (names only, never values). */
    secret_placeholders?: string[];
    /** A database's rows per table when it was snapshotted (a restore drill counts them again). */
    rows?: Record<string, number>;
}

export interface Manifest {
    format_version: string;
    name: string;
    timestamp: string;
    d3kos_version: string | null;
    installation_id: string | null;
    tier: number | null;
    pre_restore: boolean;
    items: Record<string, number>;
    total_size_bytes: number;
    files: ManifestFile[];
    skipped: SkippedItem[];
    warnings: string[];
}

export function itemCounts(files: ManifestFile[]): Record<string, number> {
    const count = (category: FileCategory) => files.filter((f) => f.category === category).length;
    return {
        databases: files.filter((f) => f.kind === 'database').length,
        config_files: count('config'),
        onboarding_files: count('onboarding'),
        boatlog_files: count('boatlog'),
        manuals: count('manuals'),
        state_files: count('state'),
        data_files: count('data'),
        node_red_files: count('node_red'),
        signalk_files: count('signalk'),
        total_files: files.length,
    };
}

/**
 * A manifest read back from an archive is untrusted input: every field the
 * restore relies on is checked, and every path must be one a restore may write.
 */
export function parseManifest(text: string, backup: string): Manifest {
    const damaged = (why: string) => new BoatDataError('BACKUP_DAMAGED', `backup ${backup} is damaged: its manifest ${why}`, 422);
    let value: any;
    try {
        value = JSON.parse(text);
    } catch {
        throw damaged('is not valid JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw damaged('is not a manifest object');
    if (typeof value.format_version !== 'string' || value.format_version.split('.')[0] !== FORMAT_VERSION.split('.')[0]) {
        throw new BoatDataError(
            'BACKUP_FORMAT_UNKNOWN',
            `backup ${backup} has format ${JSON.stringify(value.format_version)}, which this version cannot restore (it reads format ${FORMAT_VERSION})`,
            422,
        );
    }
    if (!Array.isArray(value.files)) throw damaged('has no file list');
    const seen = new Set<string>();
    const files: ManifestFile[] = value.files.map((f: any, i: number) => {
        if (typeof f !== 'object' || f === null || typeof f.path !== 'string') throw damaged(`entry ${i + 1} has no path`);
        const problem = checkEntryPath(f.path);
        if (problem) {
            throw new BoatDataError('BACKUP_UNSAFE', `backup ${backup} contains an unsafe entry ${f.path} (${problem})`, 422);
        }
        if (f.path === MANIFEST_NAME || f.path === AUTH_NAME || seen.has(f.path)) throw damaged(`lists ${f.path} twice`);
        seen.add(f.path);
        if (!Number.isSafeInteger(f.size) || f.size < 0) throw damaged(`gives no valid size for ${f.path}`);
        if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) throw damaged(`gives no valid sha256 for ${f.path}`);
        const mode = typeof f.mode === 'string' && /^0?[0-7]{3}$/.test(f.mode) ? f.mode : '0644';
        const placeholders = Array.isArray(f.secret_placeholders) ? f.secret_placeholders.filter((r: unknown) => typeof r === 'string') : undefined;
        const rows = f.kind === 'database' ? rowCounts(f.rows) : undefined;
        return {
            path: f.path,
            size: f.size,
            sha256: f.sha256,
            mode,
            kind: f.kind === 'database' ? 'database' : 'file',
            category: categoryOf(f.path),
            ...(placeholders && placeholders.length > 0 ? { secret_placeholders: placeholders } : {}),
            ...(rows ? { rows } : {}),
        };
    });
    return {
        format_version: value.format_version,
        name: typeof value.name === 'string' ? value.name : backup,
        timestamp: typeof value.timestamp === 'string' ? value.timestamp : '',
        d3kos_version: typeof value.d3kos_version === 'string' ? value.d3kos_version : null,
        installation_id: typeof value.installation_id === 'string' ? value.installation_id : null,
        tier: typeof value.tier === 'number' ? value.tier : null,
        pre_restore: value.pre_restore === true,
        items: typeof value.items === 'object' && value.items !== null ? value.items : itemCounts(files),
        total_size_bytes: files.reduce((sum, f) => sum + f.size, 0),
        files,
        skipped: Array.isArray(value.skipped) ? value.skipped : [],
        warnings: Array.isArray(value.warnings) ? value.warnings : [],
    };
}

/** Row counts as a manifest gives them: table name to a whole number, or nothing (backups made before they were recorded). */
function rowCounts(value: unknown): Record<string, number> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const counts: Record<string, number> = {};
    for (const [table, n] of Object.entries(value)) if (Number.isSafeInteger(n) && (n as number) >= 0) counts[table] = n as number;
    return counts;
}

/** What a person finds first when they open the archive on a laptop. */
export function readmeText(m: Omit<Manifest, 'files' | 'total_size_bytes' | 'items'> & { items: Record<string, number> }): string {
    const lines = [
        `d3kOS backup ${m.name}`,
        `Made ${m.timestamp} (UTC)${m.pre_restore ? ', automatically, just before a restore: restore it to undo that restore' : ''}.`,
        `Boat installation ${m.installation_id ?? 'unknown'}, tier ${m.tier ?? 'unknown'}, d3kOS ${m.d3kos_version ?? 'version unknown'}.`,
        '',
        'What is inside',
        `  config/      the boat's settings (${m.items.config_files} files), license and preferences`,
        `  data/        databases as consistent snapshots (${m.items.databases}), the boatlog, manuals (${m.items.manuals}) and other data`,
        '  state/       onboarding progress and other state',
        '  services/    the onboarding answers in services/dashboard/config/vessel.env',
        `  node-red/    the Node-RED flows (${m.items.node_red_files} file)`,
        `  signalk/     Signal K settings and plugin settings (${m.items.signalk_files} files)`,
        '  manifest.json  every file with its size and sha256 checksum',
        '',
        'What is not inside',
        '  Camera recordings, exports waiting for upload, the operating system and installed software.',
        '  Secrets: config/cloud-credentials.json and config/api-keys.env stay on the boat, and so do the',
        '  token fields of vessel.env, user-preferences.json and onboarding.json (SIGNALK_TOKEN, api_token...).',
        '  Where a secret value appeared it reads [[d3kos-secret:<file>:<key>]]; a restore on the same boat',
        "  puts the value back from the boat's live files, a restore onto a new card lists it to enter again.",
        ...(m.skipped.length > 0 ? ['', 'Left out when this backup was made', ...m.skipped.map((s) => `  ${s.item}${s.path ? ` ${s.path}` : ''}: ${s.reason}`)] : []),
        ...(m.warnings.length > 0 ? ['', 'Warnings', ...m.warnings.map((w) => `  ${w}`)] : []),
        '',
        'How to restore',
        '  On the boat: in the d3kOS dashboard open Settings > Backup & Restore, pick this backup and press',
        '  Restore (or send {action: "restore", payload: {name}} to the d3kos-backup node). The archive and',
        '  every file are checked first; a safety backup of the current state is taken, so the restore can be',
        '  undone by restoring that one. The boat keeps its own installation id. Restart the services the',
        '  restore names (a reboot does it all).',
        '',
        '  By hand: in the folder holding the archive run',
        `      sha256sum -c ${m.name}.tar.gz.sha256`,
        `      mkdir restore && tar -xzf ${m.name}.tar.gz -C restore`,
        '  then stop d3kOS services and copy config/, data/, state/ and services/ into /opt/d3kos,',
        '  node-red/flows.json to ~/.node-red/ and signalk/ to ~/.signalk/, and reboot.',
        '',
    ];
    return lines.join('\n');
}
