import { promises as fs } from 'fs';
import * as path from 'path';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { whereJsonBreaks } from './json-break';

// The operator's lists in the ingest's data folder, read on every request so a change needs no redeploy.
// Both hold secrets: no error names a token or quotes the file, only the place where it is wrong.

export const DEVICES_FILE = 'devices.json';
export const OPERATORS_FILE = 'operators.json';

/** devices.json: `{ "<device token>": "<installation_id>" }`; none yet is an empty list. */
export async function readDevices(dataDir: string): Promise<Map<string, string>> {
    const parsed = await readList(dataDir, DEVICES_FILE, '{"<device token>": "<installation_id>"}');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw malformed(DEVICES_FILE, 'must hold {"<device token>": "<installation_id>"}');
    }
    const devices = new Map<string, string>();
    Object.entries(parsed).forEach(([token, installation], index) => {
        if (typeof installation !== 'string' || !INSTALLATION_ID_PATTERN.test(installation)) {
            throw malformed(DEVICES_FILE, `entry ${index + 1} does not map to an installation_id (16 hexadecimal characters)`);
        }
        devices.set(token, installation.toLowerCase());
    });
    return devices;
}

/** operators.json: `["<operator token>", …]`, who may read every installation; none yet is nobody. */
export async function readOperators(dataDir: string): Promise<Set<string>> {
    const parsed = await readList(dataDir, OPERATORS_FILE, '["<operator token>", …]');
    if (!Array.isArray(parsed)) throw malformed(OPERATORS_FILE, 'must hold ["<operator token>", …]');
    parsed.forEach((token, index) => {
        if (typeof token !== 'string' || token.trim() === '') throw malformed(OPERATORS_FILE, `entry ${index + 1} is not a token (a non-empty string)`);
    });
    return new Set(parsed as string[]);
}

async function readList(dataDir: string, name: string, shape: string): Promise<unknown> {
    let text: string;
    try {
        text = await fs.readFile(path.join(dataDir, name), 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return name === OPERATORS_FILE ? [] : {};
        throw new BoatDataError('ACCESS_LIST_UNREADABLE', `${name} cannot be read: ${errorMessage(err)}`, 500);
    }
    try {
        return JSON.parse(text);
    } catch {
        // JSON.parse's message quotes the start of the file, which is a token: say only where it breaks.
        const at = whereJsonBreaks(text);
        const where = at ? ` at line ${at.line}, column ${at.column}` : '';
        throw malformed(name, `is not valid JSON${where}; it must hold ${shape}`);
    }
}

function malformed(name: string, problem: string): BoatDataError {
    return new BoatDataError('ACCESS_LIST_MALFORMED', `${name} ${problem}; nothing that needs it is let in until it is fixed`, 500);
}
