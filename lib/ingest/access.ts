import { promises as fs } from 'fs';
import * as path from 'path';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { BoatDataError, errorCode, errorMessage } from '../errors';

/**
 * `tokens`: a boat is let in by a device token listed in devices.json.
 * `open`: a boat is let in by its own installation_id as bearer (the
 * original d3kOS spec did this; for the demo and fleets moving over).
 */
export type IngestMode = 'open' | 'tokens';

export const DEVICES_FILE = 'devices.json';

export function parseIngestMode(value: unknown): IngestMode {
    const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
    if (text === '') return 'tokens';
    if (text === 'open' || text === 'tokens') return text;
    throw new BoatDataError('INGEST_MODE', `ingest mode ${JSON.stringify(value)} is not known; use "open" or "tokens"`, 500);
}

/** Who is uploading, as far as the headers tell before the body is read. */
export interface Uploader {
    /** The installation the bearer may upload for; the export must be from it. */
    installation_id: string;
}

/** The bearer of an Authorization header, or a 401 naming what is missing. */
export function bearerToken(header: string | string[] | undefined): string {
    const value = (Array.isArray(header) ? header[0] : header ?? '').trim();
    if (value === '') throw unauthorized('no Authorization header was sent; send "Authorization: Bearer <device token>"');
    const match = /^Bearer\s+(\S+)$/i.exec(value);
    if (!match) throw unauthorized('the Authorization header is not "Bearer <device token>"');
    return match[1];
}

/**
 * Checks the bearer before any of the body is read, so an unknown sender
 * costs nothing. devices.json is `{ "<device token>": "<installation_id>" }`
 * in the data folder, read on every upload so a new boat needs no redeploy.
 */
export async function admitUploader(mode: IngestMode, token: string, dataDir: string): Promise<Uploader> {
    if (mode === 'open') {
        if (!INSTALLATION_ID_PATTERN.test(token)) throw unauthorized('the bearer is not an installation_id (16 hexadecimal characters), which this ingest (open mode) requires');
        return { installation_id: token.toLowerCase() };
    }
    const devices = await readDevices(path.join(dataDir, DEVICES_FILE));
    const installation = Object.prototype.hasOwnProperty.call(devices, token) ? devices[token] : undefined;
    if (!installation) throw unauthorized('the device token is not known to this ingest; ask the operator to add it to devices.json');
    return { installation_id: installation.toLowerCase() };
}

/** The export must come from the installation its bearer stands for. */
export function checkExportOwner(uploader: Uploader, mode: IngestMode, installationId: string): void {
    if (uploader.installation_id === installationId.toLowerCase()) return;
    if (mode === 'open') throw unauthorized(`the bearer does not match the export's installation_id ${installationId}`);
    throw new BoatDataError('INGEST_FORBIDDEN', `this device token belongs to installation ${uploader.installation_id}, not to ${installationId}, which the export is from`, 403);
}

async function readDevices(file: string): Promise<Record<string, string>> {
    let text: string;
    try {
        text = await fs.readFile(file, 'utf8');
    } catch (err) {
        if (errorCode(err) === 'ENOENT') return {};
        throw new BoatDataError('DEVICES_UNREADABLE', `${DEVICES_FILE} cannot be read: ${errorMessage(err)}`, 500);
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (err) {
        throw new BoatDataError('DEVICES_MALFORMED', `${DEVICES_FILE} is not valid JSON (${errorMessage(err)}); no upload is accepted until it is fixed`, 500);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new BoatDataError('DEVICES_MALFORMED', `${DEVICES_FILE} must hold {"<device token>": "<installation_id>"}`, 500);
    }
    const devices: Record<string, string> = {};
    Object.entries(parsed).forEach(([token, installation], index) => {
        // The token itself is a secret: the error names the entry by its place.
        if (typeof installation !== 'string' || !INSTALLATION_ID_PATTERN.test(installation)) {
            throw new BoatDataError('DEVICES_MALFORMED', `entry ${index + 1} of ${DEVICES_FILE} does not map to an installation_id (16 hexadecimal characters)`, 500);
        }
        devices[token] = installation;
    });
    return devices;
}

function unauthorized(message: string): BoatDataError {
    return new BoatDataError('INGEST_UNAUTHORIZED', message, 401);
}
