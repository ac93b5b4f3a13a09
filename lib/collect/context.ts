import * as path from 'path';
import type { BoatLayout } from '../boat/layout';
import type { CategoryKey } from '../categories';
import type { CategoryOutput, CollectedCategory, ExportMode } from '../export/export-file';
import type { Watermark } from '../export/watermarks';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { EntryList } from './sqlite-table';
import { readRegularFile } from '../files/regular-file';

export interface CollectContext {
    layout: BoatLayout;
    mode: ExportMode;
    /** The acknowledged mark of this category (incremental exports only). */
    since?: Watermark;
    now: Date;
}

/** Writes one category's JSON object to `out` and says what it held. */
export type Collector = (context: CollectContext, out: CategoryOutput) => Promise<CollectedCategory>;

/**
 * The frame of a row category: `{"category":…,"entries":[…],"entry_count":N}`.
 * `fill` adds the entries; problems it reports (a broken source among
 * several) end up in `error` without dropping what was read.
 */
export async function writeRowCategory(
    key: CategoryKey,
    out: CategoryOutput,
    fill: (entries: EntryList) => Promise<{ watermark?: Watermark; problems?: string[]; data?: unknown }>,
): Promise<CollectedCategory> {
    const entries = new EntryList(out);
    await out.write(`{"category":${JSON.stringify(key)},"entries":[`);
    const filled = await fill(entries);
    await out.write(`],"entry_count":${entries.count}`);
    if (filled.data !== undefined) await out.write(`,"data":${JSON.stringify(filled.data)}`);
    const error = filled.problems && filled.problems.length > 0 ? filled.problems.join('; ') : undefined;
    if (error) await out.write(`,"error":${JSON.stringify(error)}`);
    await out.write('}');
    return { entry_count: entries.count, has_data: entries.count > 0, watermark: filled.watermark, error };
}

/** The frame of a data category (settings, onboarding): `{"category":…,"entry_count":N,"data":{…}}`. */
export async function writeDataCategory(key: CategoryKey, out: CategoryOutput, data: Record<string, unknown>, entryCount: number, problems: string[] = []): Promise<CollectedCategory> {
    const body: Record<string, unknown> = { category: key, entry_count: entryCount, data };
    const error = problems.length > 0 ? problems.join('; ') : undefined;
    if (error) body.error = error;
    await out.write(JSON.stringify(body));
    return { entry_count: entryCount, has_data: entryCount > 0, error };
}

/**
 * A JSON source file: undefined when it does not exist (an empty category), an error in words when it is damaged,
 * is not a regular file (a FIFO would block the read for ever), or does not answer in time.
 */
export async function readJsonSource(file: string): Promise<unknown | undefined> {
    let text: string;
    try {
        text = await readRegularFile(file);
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return undefined;
        if (err instanceof BoatDataError) throw err;
        throw new BoatDataError('SOURCE_UNREADABLE', `${path.basename(file)} cannot be read: ${errorMessage(err)}`);
    }
    if (text.trim() === '') return undefined;
    try {
        return JSON.parse(text);
    } catch (err) {
        throw new BoatDataError('SOURCE_CORRUPT', `${path.basename(file)} is not valid JSON (${errorMessage(err)})`);
    }
}

/** KEY=VALUE lines, as the dashboard's vessel.env holds them. */
export function parseEnvFile(text: string): Record<string, string> {
    const values: Record<string, string> = {};
    for (const raw of text.split(/\r?\n/)) {
        const line = raw.trim();
        if (!line || line.startsWith('#')) continue;
        const eq = line.indexOf('=');
        if (eq <= 0) continue;
        const key = line
            .slice(0, eq)
            .replace(/^export\s+/, '')
            .trim();
        let value = line.slice(eq + 1).trim();
        if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) value = value.slice(1, -1);
        values[key] = value;
    }
    return values;
}
