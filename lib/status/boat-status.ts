import { promises as fs } from 'fs';
import * as path from 'path';
import type { BoatLayout } from '../boat/layout';
import { readLicense } from '../boat/license';
import { errorCode, errorMessage } from '../errors';

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
    };
}

export interface ExportFileEntry {
    filename: string;
    size: number;
    created: string;
}

const EXPORT_FILE = /^export_[0-9A-Za-z_]+\.json$/;

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

/** GET /health: ok when the data root and the license can be read; otherwise degraded, naming what is wrong. */
export async function healthStatus(layout: BoatLayout) {
    const problems: string[] = [];
    try {
        await fs.access(layout.root);
    } catch (err) {
        problems.push(`the data root ${layout.root} cannot be read: ${errorMessage(err)}`);
    }
    let tier: number | null = null;
    try {
        tier = (await readLicense(layout.license)).tier;
    } catch (err) {
        problems.push(errorMessage(err));
    }
    return {
        statusCode: problems.length === 0 ? 200 : 503,
        body: {
            success: problems.length === 0,
            status: problems.length === 0 ? 'ok' : 'degraded',
            service: 'd3kos-node-red-data',
            tier,
            ...(problems.length > 0 ? { problems, error: problems.join('; ') } : {}),
        },
    };
}
