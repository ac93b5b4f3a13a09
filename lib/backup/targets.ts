import { promises as fs } from 'fs';
import * as path from 'path';
import { errorCode } from '../errors';
import type { ResolvedSettings } from './options';
import { NODE_RED_FOLDER, SIGNALK_FOLDER } from './sources';

/** Where one file of a backup goes on this boat, and the folder it must stay inside. */
export interface RestoreTarget {
    target: string;
    /** The data root, Signal K's plugin folder, or the folder of a configured file. */
    base: string;
}

/**
 * Where a file of the backup goes on this boat, decided by this boat's
 * settings (never by paths written in the archive), or why it does not go
 * anywhere. A check of the path as text only: `checkFolder` and
 * `prepareFolder` check the folders as they are on the disk.
 */
export function targetOf(archivePath: string, s: ResolvedSettings, withSecrets = false): RestoreTarget | { reason: string | null } {
    const root = path.resolve(s.layout.root);
    if (archivePath === 'README.txt') return { reason: null };
    const inside = (base: string, rest: string): RestoreTarget | null => {
        const target = path.resolve(base, ...rest.split('/'));
        return target.startsWith(path.resolve(base) + path.sep) ? { target, base: path.resolve(base) } : null;
    };
    const configured = (file: string): RestoreTarget => ({ target: path.resolve(file), base: path.dirname(path.resolve(file)) });
    let where: RestoreTarget | null = null;
    if (archivePath === `${NODE_RED_FOLDER}/flows.json`) {
        if (!s.flowsFile) return { reason: 'no Node-RED flows file is configured on this boat' };
        where = configured(s.flowsFile);
    } else if (archivePath === `${SIGNALK_FOLDER}/settings.json`) {
        if (!s.signalkSettings) return { reason: 'no Signal K settings file is configured on this boat' };
        where = configured(s.signalkSettings);
    } else if (archivePath.startsWith(`${SIGNALK_FOLDER}/plugin-config-data/`)) {
        if (!s.signalkPluginConfig) return { reason: 'no Signal K plugin settings folder is configured on this boat' };
        where = inside(s.signalkPluginConfig, archivePath.slice(`${SIGNALK_FOLDER}/plugin-config-data/`.length));
    } else {
        where = inside(root, archivePath);
    }
    if (!where) return { reason: 'outside the place it belongs' };
    // Only an encrypted backup (encryption.ts) brings secret files back: a plain one never holds them.
    if (!withSecrets && (where.target === path.resolve(s.layout.cloudCredentials) || where.target === path.resolve(s.layout.apiKeysEnv))) {
        return { reason: 'secrets are never restored from a backup; the boat keeps its own' };
    }
    const excluded = excludedFolders(s).find((folder) => isWithin(where!.target, folder.dir));
    if (excluded) return { reason: excluded.reason };
    return where;
}

/** Folders a restore never writes into, whatever a backup holds. */
function excludedFolders(s: ResolvedSettings): Array<{ dir: string; reason: string }> {
    return [
        { dir: path.resolve(s.layout.backupDir), reason: 'inside the backup folder, which a restore never writes' },
        { dir: path.resolve(s.layout.mediaDir), reason: 'inside the camera folder, which a restore never writes' },
        // The export queue and its watermarks describe what the running boat has sent; an old copy would send again or lose exports.
        { dir: path.resolve(s.layout.exportsDir), reason: 'inside the exports folder: the export queue and watermarks belong to the running boat' },
    ];
}

/**
 * Why the folder a file goes into is not safe to write, or null. Looks
 * only, creating nothing: each folder between the base and the file that
 * already exists must be a folder whose real path (symbolic links
 * resolved) stays inside the base's real path and outside the folders a
 * restore never writes. Run for every file before anything is written.
 */
export async function checkFolder(where: RestoreTarget, s: ResolvedSettings): Promise<string | null> {
    let realBase: string | null;
    try {
        realBase = await realpathOrNull(where.base);
    } catch (err) {
        return `the folder ${where.base} cannot be checked (${errorCode(err) ?? 'error'})`;
    }
    if (realBase === null) return null; // Not there yet: everything under it will be made by the restore.
    const excluded = await realExcludedFolders(s);
    let at = where.base;
    for (const part of folderSteps(where)) {
        at = path.join(at, part);
        const problem = await checkStep(at, realBase, excluded);
        if (problem === 'missing') return null;
        if (problem) return problem;
    }
    return checkTargetEntry(where.target);
}

/**
 * Makes the folders a file goes into, one at a time, each checked as in
 * `checkFolder` before anything goes inside it (so `mkdir -p` never
 * follows a link out of the base). Answers the real path to rename the
 * file to, or why it may not be written.
 */
export async function prepareFolder(where: RestoreTarget, s: ResolvedSettings): Promise<{ target: string } | { reason: string }> {
    await fs.mkdir(where.base, { recursive: true });
    const realBase = await fs.realpath(where.base);
    const excluded = await realExcludedFolders(s);
    let at = where.base;
    for (const part of folderSteps(where)) {
        at = path.join(at, part);
        try {
            await fs.mkdir(at);
        } catch (err) {
            if (errorCode(err) !== 'EEXIST') throw err;
        }
        const problem = await checkStep(at, realBase, excluded);
        if (problem === 'missing') return { reason: `its folder ${at} disappeared while it was being made` };
        if (problem) return { reason: problem };
    }
    const problem = await checkTargetEntry(where.target);
    if (problem) return { reason: problem };
    const realFolder = await fs.realpath(path.dirname(where.target));
    return { target: path.join(realFolder, path.basename(where.target)) };
}

function folderSteps(where: RestoreTarget): string[] {
    const relative = path.relative(where.base, path.dirname(where.target));
    return relative === '' ? [] : relative.split(path.sep);
}

async function checkStep(folder: string, realBase: string, excluded: Array<{ dir: string; reason: string }>): Promise<string | null | 'missing'> {
    let real: string;
    try {
        real = await fs.realpath(folder);
    } catch (err) {
        if (errorCode(err) !== 'ENOENT') return `the folder ${folder} cannot be checked (${errorCode(err) ?? 'error'})`;
        // A link to nowhere is as unsafe as a link out: following it would create its target.
        const stat = await fs.lstat(folder).catch(() => null);
        return stat?.isSymbolicLink() ? `the folder ${folder} on this boat is a symbolic link to a place that does not exist` : 'missing';
    }
    if (!isWithin(real, realBase)) return `the folder ${folder} on this boat leads outside ${realBase} (to ${real}); nothing was written through it`;
    const exclusion = excluded.find((e) => isWithin(real, e.dir));
    if (exclusion) return `the folder ${folder} on this boat leads ${exclusion.reason.replace(/^inside/, 'into')}`;
    if (!(await fs.stat(real).catch(() => null))?.isDirectory()) return `${folder} on this boat is not a folder`;
    return null;
}

/** The file itself may be a link (a rename replaces the link, never writes through it), but not a folder. */
async function checkTargetEntry(target: string): Promise<string | null> {
    const stat = await fs.lstat(target).catch(() => null);
    return stat?.isDirectory() ? `${target} on this boat is a folder, not a file` : null;
}

async function realExcludedFolders(s: ResolvedSettings): Promise<Array<{ dir: string; reason: string }>> {
    return Promise.all(excludedFolders(s).map(async (e) => ({ ...e, dir: (await realpathOrNull(e.dir)) ?? e.dir })));
}

async function realpathOrNull(p: string): Promise<string | null> {
    try {
        return await fs.realpath(p);
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return null;
        throw err;
    }
}

function isWithin(p: string, dir: string): boolean {
    return p === dir || p.startsWith(dir + path.sep);
}
