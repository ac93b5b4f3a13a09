import type { BoatLayout } from '../boat/layout';
import { readLicense } from '../boat/license';
import { knownSecretValues } from '../boat/secrets';
import { CATEGORY_KEYS, CategoryKey } from '../categories';
import { COLLECTORS } from '../collect';
import type { StoredEncoding } from './compressed-file';
import { abandonExport, appendCategory, CategorySummary, ExportInProgress, ExportMode, finishExport, FinishedExport, missingCategories, startExport } from './export-file';

/** Collects one category into an export being built. */
export async function collectCategory(layout: BoatLayout, exp: ExportInProgress, key: CategoryKey, now = new Date()): Promise<CategorySummary> {
    // Read per category (a few small files): the export travels on messages, so it never carries the values itself.
    const secrets = await knownSecretValues(layout);
    return appendCategory(exp, key, (out) => COLLECTORS[key]({ layout, mode: exp.mode, since: exp.since[key], now }, out), secrets);
}

/** Collects every category not collected yet, then closes the export. */
export async function completeExport(layout: BoatLayout, exp: ExportInProgress, now = new Date()): Promise<FinishedExport> {
    try {
        for (const key of missingCategories(exp)) await collectCategory(layout, exp, key, now);
        return await finishExport(exp);
    } catch (err) {
        await abandonExport(exp);
        throw err;
    }
}

/** A whole export in one call: license check, all nine categories, the closed file. */
export async function exportBoatData(layout: BoatLayout, mode: ExportMode = 'full', now = new Date(), storage?: StoredEncoding | 'plain'): Promise<FinishedExport> {
    const license = await readLicense(layout.license);
    const exp = await startExport(layout, license, mode, now, storage);
    return completeExport(layout, exp, now);
}

export { CATEGORY_KEYS };
