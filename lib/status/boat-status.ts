import { promises as fs } from 'fs';
import * as path from 'path';
import type { BoatLayout } from '../boat/layout';
import { readLicense } from '../boat/license';
import { errorCode, errorMessage } from '../errors';
import { cachedCheck } from './cached-check';
import { readProblems } from '../files/read-watch';
import { diskProblems } from './disk-check';
import { overdueWork, standingProblems } from './problems';
import { openEditorProblem } from '../http/open-editor';
import { publicMessage } from '../http/public-message';
import { boatDisks } from './disks';
import { noticesFor } from './notices';
import { packageVersion } from './version';
import { nextRunOf } from './next-runs';

/** What each tier adds, in the owner's words. */
const TIER_ALLOWS = ['data stays on the boat', 'exports at the touch of a button', 'a daily automatic export at 03:00', 'a daily automatic export at 03:00'];

/** GET /tier/status: what the boat's license allows. Never billing internals or secrets. */
export async function tierStatus(layout: BoatLayout) {
    const license = await readLicense(layout.license);
    return {
        success: true,
        tier: license.tier,
        installation_id: license.installation_id,
        can_export: license.tier >= 1,
        scheduled_export: license.tier >= 2,
        subscription_status: license.subscription_status ?? null,
        allows: TIER_ALLOWS[license.tier] ?? TIER_ALLOWS[0],
        /** The next run of the daily export's schedule (remembered as daily-export), when one runs. */
        next_scheduled_export: license.tier >= 2 ? nextRunOf(layout.root, 'daily-export') : null,
    };
}

export interface ExportFileEntry {
    filename: string;
    size: number;
    created: string;
}

const EXPORT_FILE = /^export_[0-9A-Za-z_-]+\.json(\.br|\.gz)?$/;

/** GET /export/list: the finished export files, newest first (partial files being written are hidden and skipped). */
export async function listExportFiles(layout: BoatLayout): Promise<{ success: true; count: number; exports: ExportFileEntry[] }> {
    let names: string[];
    try {
        names = await fs.readdir(layout.exportFilesDir);
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return { success: true, count: 0, exports: [] };
        throw err;
    }
    const exports: ExportFileEntry[] = [];
    for (const filename of names.filter((name) => EXPORT_FILE.test(name))) {
        try {
            const stat = await fs.stat(path.join(layout.exportFilesDir, filename));
            if (stat.isFile()) exports.push({ filename, size: stat.size, created: stat.mtime.toISOString() });
        } catch {
            // Removed between readdir and stat (queue cleanup): not listed.
        }
    }
    exports.sort((a, b) => (a.filename < b.filename ? 1 : a.filename > b.filename ? -1 : 0));
    return { success: true, count: exports.length, exports };
}

/** How long /health waits on any one file or disk before it reports it as not answering. */
export const HEALTH_READ_LIMIT_MS = 2000;
/** /health reads the license and asks the data root at most this often (a tier change shows within a second). */
export const HEALTH_FRESH_MS = 1000;
/** An answer this old is still given while a newer one is being read; older, /health waits for the new one. */
const HEALTH_STALE_MS = 30_000;

function healthCheck<T>(key: string, check: () => Promise<T>) {
    return cachedCheck(key, check, { freshMs: HEALTH_FRESH_MS, staleMs: HEALTH_STALE_MS, waitMs: HEALTH_READ_LIMIT_MS }).get();
}

/**
 * GET /health: ok, or degraded with every reason in plain words: the data
 * root or the license unreadable, a boat file that was refused or would not
 * answer (a FIFO, a hung drive), the queue file found damaged, the exports
 * disk full or read-only, work running far past its time. It answers from
 * what this process already knows plus checks bounded in time, so a stuck
 * file can never make /health itself hang.
 */
export async function healthStatus(layout: BoatLayout) {
    const problems: string[] = [];
    const [root, license, disk, disks] = await Promise.all([
        healthCheck(`root:${layout.root}`, () => fs.access(layout.root)),
        healthCheck(`license:${layout.license}`, () => readLicense(layout.license, { limitMs: HEALTH_READ_LIMIT_MS })),
        diskProblems(layout.exportsDir, layout.root),
        boatDisks(layout),
    ]);
    if (!root.ok) {
        problems.push(
            'silentForMs' in root
                ? `the data root has not answered for ${Math.round(root.silentForMs / 1000)} s (a hung drive or mount?)`
                : `the data root cannot be read: ${errorCode(root.error) ?? errorMessage(root.error)}`,
        );
    }
    let tier: number | null = null;
    if (license.ok) tier = license.value.tier;
    else problems.push('silentForMs' in license ? `license.json has not answered for ${Math.round(license.silentForMs / 1000)} s (a hung drive or mount?)` : errorMessage(license.error));
    problems.push(...disk);
    const roots = [...new Set([layout.root, layout.mediaDir])];
    for (const r of roots) for (const p of readProblems(r)) if (!problems.includes(p.problem)) problems.push(p.problem);
    for (const p of standingProblems(layout.root)) problems.push(p.problem);
    for (const p of overdueWork(layout.root)) problems.push(p.problem);
    const openEditor = openEditorProblem();
    if (openEditor) problems.push(openEditor);
    // The LAN reads /health: a problem names a file, never where the boat keeps it.
    problems.splice(0, problems.length, ...problems.map(publicMessage));
    return {
        statusCode: problems.length === 0 ? 200 : 503,
        body: {
            success: problems.length === 0,
            status: (problems.length === 0 ? 'ok' : 'degraded') as 'ok' | 'degraded',
            service: 'd3kos-node-red-data',
            tier,
            version: packageVersion(),
            problems,
            notices: noticesFor(problems),
            disks,
            ...(problems.length > 0 ? { error: problems.join('; ') } : {}),
        },
    };
}
