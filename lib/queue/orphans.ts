import { promises as fs } from 'fs';
import * as crypto from 'crypto';
import * as path from 'path';
import type { ExportMode } from '../export/export-file';
import { errorMessage } from '../errors';
import { withRegularFile } from '../files/regular-file';
import { encodingOfName, exportIdOfName, readPlain, StoredEncoding } from '../export/compressed-file';

/**
 * What an export file says of itself, enough to queue it again when no queue
 * entry names it (the queue file was damaged and set aside, or Node-RED died
 * between closing the export and queueing it).
 */
export interface AdoptableExport {
    export_id: string;
    export_file: string;
    created_at: string;
    tier: number;
    mode: ExportMode;
    category_count: number;
    file_size_bytes: number;
    sha256: string;
    /** How the file is stored (from its name); absent for plain JSON. */
    encoding?: StoredEncoding;
}

/** An export file that cannot be queued again as it is: the owner hears of it instead. */
export interface UntrustedExport {
    file: string;
    reason: string;
}

const EXPORT_NAME = /^export_[\w-]+\.json(\.br|\.gz)?$/;
/** Hashing a large export on a slow card takes a while; a read this long is a stuck one. */
const HASH_LIMIT_MS = 120_000;
/** Where the header ends: everything before it is the export's identity. */
const DATA_KEY = ',"data":';
/** An old-format or hand-made file this small may be parsed whole to find its identity. */
const WHOLE_PARSE_LIMIT = 8 * 1024 * 1024;

/** The export files in `dir` whose names `named` does not hold: candidates for adoption. */
export async function unnamedExportFiles(dir: string, named: ReadonlySet<string>): Promise<string[]> {
    let names: string[];
    try {
        names = await fs.readdir(dir);
    } catch {
        return [];
    }
    return names
        .filter((name) => EXPORT_NAME.test(name) && !named.has(name))
        .sort()
        .map((name) => path.join(dir, name));
}

/**
 * Reads an export file: its identity from the header, its size and sha256 from
 * every byte (read once, in 1 MB chunks, from the descriptor checked to be a
 * regular file), and whether it ends as a complete export does.
 */
export async function inspectExportFile(file: string): Promise<AdoptableExport | UntrustedExport> {
    const name = path.basename(file);
    try {
        return await withRegularFile(
            file,
            async (handle, stat) => {
                const hash = crypto.createHash('sha256');
                const chunk = Buffer.alloc(1 << 20);
                let head: Buffer = Buffer.alloc(0);
                let tail: Buffer = Buffer.alloc(0);
                let size = 0;
                for (;;) {
                    const { bytesRead } = await handle.read(chunk, 0, chunk.length, size);
                    if (bytesRead === 0) break;
                    const part = chunk.subarray(0, bytesRead);
                    hash.update(part);
                    if (head.length < 65536) head = Buffer.concat([head, part.subarray(0, 65536 - head.length)]);
                    tail = Buffer.concat([tail, part]).subarray(-4096);
                    size += bytesRead;
                }
                const encoding = encodingOfName(name);
                if (encoding) {
                    // Stored compressed: its text is read back through the decoder (a file cut short does not decode).
                    const plain = await plainEnds(file, encoding).catch((err) => ({ reason: `${name} does not decode as ${encoding} (${errorMessage(err)})` }));
                    if ('reason' in plain) return { file, reason: plain.reason };
                    head = plain.head;
                    tail = plain.tail;
                }
                const identity = await readIdentity(head.toString('utf8'), !encoding && stat.size <= WHOLE_PARSE_LIMIT ? () => handle.readFile('utf8') : null, name);
                if ('reason' in identity) return { file, reason: identity.reason };
                if (!/\}\s*$/.test(tail.toString('utf8'))) return { file, reason: `${name} is cut short: it does not end as a complete export does` };
                const statistics = /"categories_with_data":(\d+)/.exec(tail.toString('utf8'));
                return {
                    ...identity,
                    ...(encoding ? { encoding } : {}),
                    export_file: file,
                    category_count: statistics ? Number(statistics[1]) : 0,
                    file_size_bytes: size,
                    sha256: hash.digest('hex'),
                };
            },
            { limitMs: HASH_LIMIT_MS },
        );
    } catch (err) {
        return { file, reason: `${name} could not be read: ${errorMessage(err)}` };
    }
}

type Identity = Pick<AdoptableExport, 'export_id' | 'created_at' | 'tier' | 'mode'>;

async function readIdentity(head: string, readWhole: (() => Promise<string>) | null, name: string): Promise<Identity | { reason: string }> {
    let header: Record<string, unknown> | null = null;
    const end = head.indexOf(DATA_KEY);
    if (end > 0) {
        try {
            header = JSON.parse(head.slice(0, end) + '}');
        } catch {
            header = null;
        }
    }
    if (!header && readWhole) {
        try {
            // The reads above gave their offsets, so the descriptor's own position is still 0: readFile reads it all.
            const whole = JSON.parse(await readWhole());
            if (typeof whole === 'object' && whole !== null && !Array.isArray(whole)) header = whole;
        } catch {
            header = null;
        }
    }
    if (!header) return { reason: `${name} does not start as an export does (no export header could be read)` };
    const exportId = header.export_id;
    if (typeof exportId !== 'string' || !/^export_[\w-]+$/.test(exportId)) return { reason: `${name} carries no export_id` };
    if (exportIdOfName(name) !== exportId) return { reason: `${name} carries the export_id ${exportId}, which is not its name` };
    const tier = header.tier;
    if (typeof tier !== 'number' || !Number.isInteger(tier) || tier < 1 || tier > 3) return { reason: `${name} carries tier ${JSON.stringify(tier)}, not a tier that exports (1 to 3)` };
    const mode = header.mode === undefined ? 'full' : header.mode;
    if (mode !== 'full' && mode !== 'incremental') return { reason: `${name} carries mode ${JSON.stringify(header.mode)}` };
    const created = typeof header.timestamp === 'string' ? header.timestamp : typeof header.export_timestamp === 'string' ? header.export_timestamp : null;
    if (!created || Number.isNaN(Date.parse(created))) return { reason: `${name} carries no export time` };
    return { export_id: exportId, created_at: created, tier, mode };
}

/** The first 64 kB and the last 4 kB of a compressed export's text. */
async function plainEnds(file: string, encoding: StoredEncoding): Promise<{ head: Buffer; tail: Buffer }> {
    let head = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    for await (const part of readPlain(file, encoding) as AsyncIterable<Buffer>) {
        if (head.length < 65536) head = Buffer.concat([head, part.subarray(0, 65536 - head.length)]);
        tail = Buffer.concat([tail.subarray(-4096), part]).subarray(-4096);
    }
    return { head, tail };
}
