import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode } from '../errors';
import type { ResolvedSettings } from './options';
import { isSqliteFile, SQLITE_SIDE_FILES } from './snapshot';

/** What one archived file is, for the manifest's item counts and the restart report. */
export type FileCategory = 'config' | 'onboarding' | 'boatlog' | 'manuals' | 'state' | 'data' | 'node_red' | 'signalk' | 'readme';

export interface SourceFile {
    /** Path inside the archive, `/`-separated: `config/license.json`, `node-red/flows.json`. */
    archivePath: string;
    /** Where it is on the boat now. */
    source: string;
    /** Databases are copied as consistent snapshots, never raw. */
    kind: 'file' | 'database';
}

export interface SkippedItem {
    item: string;
    path: string;
    reason: string;
}

/** The folders of the data root a backup takes (and the only ones a restore writes). */
export const ROOT_FOLDERS = ['config', 'data', 'state', 'services'] as const;
/** Archive folders for things kept outside the data root. */
export const NODE_RED_FOLDER = 'node-red';
export const SIGNALK_FOLDER = 'signalk';

const VIDEO = /\.(mp4|mkv|avi|mov|h264|h265)$/i;
/** Temp files of atomic writes in progress (ours and other services'). */
const IN_PROGRESS = /^\..*\.tmp$|\.partial$/;

export function categoryOf(archivePath: string): FileCategory {
    if (archivePath === 'README.txt') return 'readme';
    if (archivePath.startsWith(`${NODE_RED_FOLDER}/`)) return 'node_red';
    if (archivePath.startsWith(`${SIGNALK_FOLDER}/`)) return 'signalk';
    if (archivePath.startsWith('data/manuals/')) return 'manuals';
    if (archivePath.startsWith('data/boatlog/')) return 'boatlog';
    if (archivePath === 'config/onboarding.json' || archivePath.startsWith('state/onboarding') || archivePath === 'services/dashboard/config/vessel.env') {
        return 'onboarding';
    }
    if (archivePath.startsWith('config/')) return 'config';
    if (archivePath.startsWith('state/')) return 'state';
    return 'data';
}

/**
 * Everything a backup takes: config (minus the secret files), the data
 * folder (minus exports, which can be made again, and camera recordings),
 * state, the onboarding vessel.env, Node-RED's flows and Signal K's
 * settings. Symbolic links are never followed.
 */
export async function findBackupSources(settings: ResolvedSettings, withSecrets = false): Promise<{ files: SourceFile[]; skipped: SkippedItem[] }> {
    const { layout } = settings;
    const root = path.resolve(layout.root);
    const files: SourceFile[] = [];
    const skipped: SkippedItem[] = [];
    // An encrypted backup (encryption.ts) takes the secret files too.
    const secrets = new Set(withSecrets ? [] : [path.resolve(layout.cloudCredentials), path.resolve(layout.apiKeysEnv)]);
    const excludedFolders = [path.resolve(layout.backupDir), path.resolve(layout.mediaDir), path.resolve(layout.exportsDir)];
    let videos = 0;

    for (const secret of secrets) {
        if (await exists(secret)) skipped.push({ item: 'secret file', path: toArchivePath(root, secret), reason: 'secrets are never backed up; they stay on the boat' });
    }

    const visit = async (file: string, archivePath: string, allowDatabase: boolean): Promise<void> => {
        const name = path.basename(file);
        if (IN_PROGRESS.test(name)) return;
        // Found by its header, whatever its name: a live database is only ever copied as a snapshot.
        if (allowDatabase && (await isSqliteFile(file))) {
            files.push({ archivePath, source: file, kind: 'database' });
        } else {
            files.push({ archivePath, source: file, kind: 'file' });
        }
    };

    const walk = async (dir: string, archiveDir: string): Promise<void> => {
        let entries: import('fs').Dirent[];
        try {
            entries = await fs.readdir(dir, { withFileTypes: true });
        } catch (err) {
            if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return;
            skipped.push({ item: 'folder', path: archiveDir, reason: `cannot be read (${errorCode(err) ?? 'error'})` });
            return;
        }
        entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const names = new Set(entries.map((e) => e.name));
        for (const entry of entries) {
            const full = path.join(dir, entry.name);
            const archivePath = `${archiveDir}/${entry.name}`;
            if (entry.isDirectory()) {
                if (excludedFolders.includes(full) || entry.name.startsWith('.d3kos-restore-')) continue;
                await walk(full, archivePath);
            } else if (entry.isFile()) {
                if (secrets.has(full)) continue;
                // -wal/-shm/-journal belong to their database, whose snapshot already holds what they contain.
                if (SQLITE_SIDE_FILES.some((s) => entry.name.endsWith(s) && names.has(entry.name.slice(0, -s.length)))) continue;
                if (VIDEO.test(entry.name) && !archivePath.startsWith('data/manuals/')) {
                    videos++;
                    continue;
                }
                await visit(full, archivePath, true);
            } else {
                skipped.push({ item: entry.isSymbolicLink() ? 'symbolic link' : 'special file', path: archivePath, reason: 'only plain files are backed up' });
            }
        }
    };

    for (const folder of ROOT_FOLDERS) {
        if (folder === 'services') continue;
        await walk(path.join(root, folder), folder);
    }
    if (await isPlainFile(layout.vesselEnv)) await visit(layout.vesselEnv, toArchivePath(root, layout.vesselEnv), false);
    if (videos > 0) skipped.push({ item: 'video files', path: 'data', reason: `${videos} camera recording(s) left out` });

    const external = async (item: string, file: string | null, archivePath: string) => {
        if (!file) {
            skipped.push({ item, path: '', reason: 'not configured' });
            return;
        }
        if (await isPlainFile(file)) files.push({ archivePath, source: file, kind: 'file' });
        else skipped.push({ item, path: file, reason: 'not found' });
    };
    await external('Node-RED flows', settings.flowsFile, `${NODE_RED_FOLDER}/flows.json`);
    await external('Signal K settings', settings.signalkSettings, `${SIGNALK_FOLDER}/settings.json`);
    if (!settings.signalkPluginConfig) {
        skipped.push({ item: 'Signal K plugin settings', path: '', reason: 'not configured' });
    } else if (await isFolder(settings.signalkPluginConfig)) {
        // Signal K plugins keep SQLite databases here too (while Signal K runs): snapshots, as for the data root.
        await walk(settings.signalkPluginConfig, `${SIGNALK_FOLDER}/plugin-config-data`);
    } else {
        skipped.push({ item: 'Signal K plugin settings', path: settings.signalkPluginConfig, reason: 'not found' });
    }
    return { files, skipped };
}

function toArchivePath(root: string, file: string): string {
    return path.relative(root, file).split(path.sep).join('/');
}

/** True when something (a file, a folder or a link) is at `file`; links are not followed. */
export async function exists(file: string): Promise<boolean> {
    try {
        await fs.lstat(file);
        return true;
    } catch {
        return false;
    }
}

async function isPlainFile(file: string): Promise<boolean> {
    try {
        return (await fs.lstat(file)).isFile();
    } catch {
        return false;
    }
}

async function isFolder(dir: string): Promise<boolean> {
    try {
        return (await fs.lstat(dir)).isDirectory();
    } catch {
        return false;
    }
}
