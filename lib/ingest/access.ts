import * as crypto from 'crypto';
import { INSTALLATION_ID_PATTERN } from '../boat/license';
import { BoatDataError } from '../errors';
import { readDevices, readOperators } from './access-lists';

/**
 * `tokens`: a boat uploads with a device token listed in devices.json, and
 * reading needs a token too (operators.json: every installation; a device
 * token: its own). `open`: a boat uploads with its own installation_id as
 * bearer (the original d3kOS spec did this) and anyone reads; for the demo
 * and fleets moving over.
 */
export type IngestMode = 'open' | 'tokens';

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

/** Who is reading: the whole fleet (an operator, or anyone in open mode), or one boat. */
export type Reader = { scope: 'fleet' } | { scope: 'installation'; installation_id: string };

export const FLEET_READER: Reader = { scope: 'fleet' };

/** The bearer of an Authorization header, or a 401 naming what is missing. */
export function bearerToken(header: string | string[] | undefined, what = 'device token'): string {
    const value = (Array.isArray(header) ? header[0] : (header ?? '')).trim();
    if (value === '') throw unauthorized(`no Authorization header was sent; send "Authorization: Bearer <${what}>"`);
    const match = /^Bearer\s+(\S+)$/i.exec(value);
    if (!match) throw unauthorized(`the Authorization header is not "Bearer <${what}>"`);
    return match[1];
}

/**
 * Checks the bearer of an upload from its headers alone, so the caller can refuse before reading the body.
 * `erasedSince` answers when the boat of a device token no longer listed was erased, if it was.
 */
export async function admitUploader(mode: IngestMode, token: string, dataDir: string, erasedSince?: (digest: string) => Promise<string | undefined>): Promise<Uploader> {
    if (mode === 'open') {
        if (!INSTALLATION_ID_PATTERN.test(token)) throw unauthorized('the bearer is not an installation_id (16 hexadecimal characters), which this ingest (open mode) requires');
        return { installation_id: token.toLowerCase() };
    }
    const installation = (await readDevices(dataDir)).get(token);
    if (installation) return { installation_id: installation };
    if ((await readOperators(dataDir)).has(token)) {
        throw new BoatDataError('INGEST_FORBIDDEN', "this is an operator token: operator tokens read, device tokens upload; upload with the boat's device token (devices.json)", 403);
    }
    const erasedAt = await erasedSince?.(tokenDigest(token));
    if (erasedAt) {
        throw new BoatDataError(
            'INGEST_ERASED',
            `this device token's boat was erased from the central database on ${erasedAt}; it uploads again once the operator lets it in by adding its device token to devices.json`,
            403,
        );
    }
    throw unauthorized('the device token is not known to this ingest; ask the operator to add it to devices.json');
}

/** How a device token is remembered after its boat is erased: its sha256, never the token or the boat. */
export function tokenDigest(token: string): string {
    return crypto.createHash('sha256').update(token).digest('hex');
}

/** The export must come from the installation its bearer stands for. */
export function checkExportOwner(uploader: Uploader, mode: IngestMode, installationId: string): void {
    if (uploader.installation_id === installationId.toLowerCase()) return;
    if (mode === 'open') throw unauthorized(`the bearer does not match the export's installation_id ${installationId}`);
    throw new BoatDataError('INGEST_FORBIDDEN', `this device token belongs to installation ${uploader.installation_id}, not to ${installationId}, which the export is from`, 403);
}

/**
 * Who may read, from the Authorization header: in open mode anyone reads the
 * fleet; in tokens mode an operator token (operators.json) reads the fleet and
 * a device token (devices.json) its own installation; anything else is a 401.
 */
export async function admitReader(mode: IngestMode, authorization: string | string[] | undefined, dataDir: string): Promise<Reader> {
    if (mode === 'open') return FLEET_READER;
    const token = bearerToken(authorization, 'operator or device token');
    if ((await readOperators(dataDir)).has(token)) return FLEET_READER;
    const installation = (await readDevices(dataDir)).get(token);
    if (installation) return { scope: 'installation', installation_id: installation };
    throw unauthorized('the token is not known to this ingest: reading needs an operator token (operators.json) or a device token (devices.json)');
}

/** A device token reads only its own installation. */
export function checkReads(reader: Reader, installationId: string): void {
    if (reader.scope === 'fleet' || reader.installation_id === installationId.toLowerCase()) return;
    throw new BoatDataError('INGEST_FORBIDDEN', `this device token reads installation ${reader.installation_id} only, not ${installationId}`, 403);
}

function unauthorized(message: string): BoatDataError {
    return new BoatDataError('INGEST_UNAUTHORIZED', message, 401);
}
