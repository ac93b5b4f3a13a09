import { CategoryKey, isCategoryKey } from '../categories';
import { BoatDataError } from '../errors';
import { DEFAULT_LIMITS, ExportLimits, formatMegabytes } from './limits';
import { keyFieldsOf, rowKeyOf } from './row-keys';

/** A JSON value's type as the checks name it; numbers are 'integer' or 'real', as SQLite's json_type says. */
export type JsonType = 'object' | 'array' | 'text' | 'integer' | 'real' | 'true' | 'false' | 'null';

const JSON_TYPE_WORDS: Record<JsonType, string> = {
    object: 'an object',
    array: 'an array',
    text: 'a string',
    integer: 'a number',
    real: 'a number',
    true: 'true',
    false: 'false',
    null: 'null',
};

export interface CategoryShape {
    type: JsonType;
    entriesType: JsonType | null;
    entries: number;
    dataType: JsonType | null;
}

/** What an export looked like, as far as the checks need it: the header fields and each category's shape. */
export interface ExportShape {
    topType: JsonType | null;
    header: Map<string, { type: JsonType; value: unknown }>;
    dataType: JsonType | null;
    categories: Map<string, CategoryShape>;
}

/** Something the store must do, in the order the export says it. */
export type ParsedItem = { kind: 'data-start' } | { kind: 'row'; category: CategoryKey; index: number; entry: string; key: string } | { kind: 'data'; category: CategoryKey; data: string };

/** The top-level fields the ingest keeps; everything else at the top (statistics, timestamp) is only checked. */
export const HEADER_FIELDS = new Set(['export_id', 'installation_id', 'format_version', 'mode', 'tier', 'export_timestamp']);

// Parser states.
const VALUE = 0;
const VALUE_OR_END = 1;
const KEY_OR_END = 2;
const KEY = 3;
const COLON = 4;
const AFTER = 5;
const STRING = 6;
const ESCAPE = 7;
const UNICODE = 8;
const NUMBER = 9;
const LITERAL = 10;
const DONE = 11;

// What a container is to the export.
const OTHER = 0;
const ROOT = 1;
const DATA = 2;
const CATEGORY = 3;
const ENTRIES = 4;

interface Frame {
    array: boolean;
    role: number;
    category?: CategoryKey;
    /** Keys seen so far (objects): a list while short, a set past 16. */
    keys: string[] | Set<string> | null;
    key: string;
    count: number;
}

interface Capture {
    kind: 'header' | 'row' | 'data';
    depth: number;
    /** The value so far as text, and the bytes at the end of the last chunk, which may end inside a character. */
    text: string;
    pending: Buffer | null;
    bytes: number;
    name: string;
    category?: CategoryKey;
    index: number;
    object: boolean;
    fields: string[];
    found: Map<string, string | null>;
}

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isNumberByte = (b: number) => (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2b || b === 0x2e || b === 0x65 || b === 0x45;
const MAX_SPACE_RUN = 1024 * 1024;
const NUMBER_PATTERN = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/**
 * Reads an export as it streams in, once, holding at most one row at a
 * time: the header fields, every category's shape for the checks, and each
 * entry as minified JSON text with its row key, queued in `items` for the
 * store. It refuses (400) what is not JSON and any object with the same key
 * twice (SQLite would read the first, JSON.parse the last), and (413) any
 * string or row over the limits, naming where it is, as soon as it is seen.
 */
export class ExportParser {
    readonly shape: ExportShape = { topType: null, header: new Map(), dataType: null, categories: new Map() };
    /** Taken and emptied by the caller after every write. */
    items: ParsedItem[] = [];
    rows = 0;

    private state = VALUE;
    private stack: Frame[] = [];
    private consumed = 0;
    private started = false;
    private capture: Capture | null = null;
    private segment = -1;
    // The string, number or literal under way.
    private stringBytes = 0;
    private stringParts: Buffer[] | null = null;
    private stringStart = -1;
    private stringIsKey = false;
    private unicodeLeft = 0;
    private spaces = 0;
    private tokenStart = 0;
    private tokenPrefix = '';
    private readonly framePool: Frame[] = [];
    private readonly captureSlot: Capture = { kind: 'row', depth: 0, text: '', pending: null, bytes: 0, name: '', index: 0, object: false, fields: [], found: new Map() };

    constructor(private readonly limits: ExportLimits = DEFAULT_LIMITS) {}

    write(chunk: Buffer): void {
        let i = 0;
        if (!this.started) {
            this.started = true;
            if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
        }
        if (this.capture && this.segment < 0) this.segment = i;
        const n = chunk.length;
        while (i < n) {
            const b = chunk[i];
            switch (this.state) {
                case STRING: {
                    // The common case, a run of plain bytes, in one tight loop.
                    let j = i;
                    while (j < n) {
                        const c = chunk[j];
                        if (c === 0x22 || c === 0x5c || c < 0x20) break;
                        j++;
                    }
                    this.countString(j - i);
                    if (j === n) {
                        i = n;
                        continue;
                    }
                    const c = chunk[j];
                    if (c < 0x20) this.broken(j, 'a control character inside a string');
                    if (c === 0x5c) {
                        this.countString(1);
                        this.state = ESCAPE;
                        i = j + 1;
                        continue;
                    }
                    // The closing quote.
                    i = j + 1;
                    const parts = this.stringParts;
                    if (parts === null) this.endString(chunk, i, '');
                    else if (parts.length === 0) this.endString(chunk, i, chunk.toString('utf8', this.stringStart, j));
                    else {
                        if (j > this.stringStart) parts.push(chunk.subarray(this.stringStart, j));
                        this.endString(chunk, i, Buffer.concat(parts).toString('utf8'));
                    }
                    continue;
                }
                case ESCAPE:
                    if (b === 0x75) {
                        this.state = UNICODE;
                        this.unicodeLeft = 4;
                    } else if (b === 0x22 || b === 0x5c || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74) {
                        this.state = STRING;
                    } else {
                        this.broken(i, 'an unknown escape in a string');
                    }
                    this.countString(1);
                    i++;
                    continue;
                case UNICODE:
                    if (!((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66))) this.broken(i, 'a \\u escape without four hex digits');
                    this.countString(1);
                    if (--this.unicodeLeft === 0) this.state = STRING;
                    i++;
                    continue;
                case NUMBER:
                case LITERAL: {
                    let j = i;
                    if (this.state === NUMBER) while (j < n && isNumberByte(chunk[j])) j++;
                    else while (j < n && chunk[j] >= 0x61 && chunk[j] <= 0x7a) j++;
                    if (j - this.tokenStart + this.tokenPrefix.length > 64) this.broken(j, 'a number or word too long to be JSON');
                    if (j === n) {
                        this.tokenPrefix += chunk.toString('latin1', this.tokenStart, n);
                        this.tokenStart = n;
                        i = n;
                        continue;
                    }
                    this.endScalarToken(chunk, j, this.tokenPrefix + chunk.toString('latin1', this.tokenStart, j));
                    i = j;
                    continue; // this byte is read again in the state after the value
                }
            }
            if (isSpace(b)) {
                // A boat never writes a megabyte of blank space; a body of it is a bomb, refused before it costs more.
                if (++this.spaces > MAX_SPACE_RUN) this.broken(i, 'more than 1 MB of blank space in a row (not an export)');
                if (this.capture) {
                    this.flush(chunk, i);
                    this.segment = i + 1;
                }
                i++;
                continue;
            }
            this.spaces = 0;
            switch (this.state) {
                case VALUE:
                case VALUE_OR_END:
                    if (this.state === VALUE_OR_END && b === 0x5d) {
                        this.close(chunk, i, true);
                        break;
                    }
                    this.startValue(chunk, i, b);
                    break;
                case KEY_OR_END:
                case KEY:
                    if (this.state === KEY_OR_END && b === 0x7d) {
                        this.close(chunk, i, false);
                        break;
                    }
                    if (b !== 0x22) this.broken(i, 'a key that is not a string');
                    this.startString(chunk, i, true, true);
                    break;
                case COLON:
                    if (b !== 0x3a) this.broken(i, 'no ":" after a key');
                    this.state = VALUE;
                    break;
                case AFTER: {
                    const top = this.stack[this.stack.length - 1];
                    if (b === 0x2c) this.state = top.array ? VALUE : KEY;
                    else if (b === 0x5d && top.array) this.close(chunk, i, true);
                    else if (b === 0x7d && !top.array) this.close(chunk, i, false);
                    else this.broken(i, 'a missing "," or closing bracket');
                    break;
                }
                case DONE:
                    this.broken(i, 'more after the end of the export');
            }
            i++;
        }
        const capture = this.capture;
        if (capture) {
            // The chunk's memory is not held past this write: its last bytes are copied, decoded with the next chunk's.
            if (this.segment >= 0 && this.segment < n) {
                this.countCaptured(capture, n - this.segment);
                const tail = chunk.subarray(this.segment, n);
                capture.pending = capture.pending ? Buffer.concat([capture.pending, tail]) : Buffer.from(tail);
            }
            this.segment = 0;
        }
        // A number or word that began on this chunk's last byte goes on in the next one.
        if ((this.state === NUMBER || this.state === LITERAL) && this.tokenStart < n) this.tokenPrefix += chunk.toString('latin1', this.tokenStart, n);
        this.tokenStart = 0;
        if (this.stringParts && this.state >= STRING && this.state <= UNICODE) {
            if (n > this.stringStart) this.stringParts.push(Buffer.from(chunk.subarray(this.stringStart, n)));
            this.stringStart = 0;
        }
        this.consumed += n;
    }

    /** The export ended: anything still open is a truncated document. */
    end(): void {
        if (this.state === NUMBER || this.state === LITERAL) this.endScalarToken(Buffer.alloc(0), 0, this.tokenPrefix);
        if (this.state !== DONE) {
            if (!this.started) throw new BoatDataError('UPLOAD_EMPTY', 'the body is empty; send the export file, gzip-compressed', 400);
            throw new BoatDataError('EXPORT_INVALID', `the body is not valid JSON (it ends early, after ${this.consumed} bytes)`, 400);
        }
    }

    private startValue(chunk: Buffer, i: number, b: number): void {
        const parent = this.stack[this.stack.length - 1];
        const type: JsonType | null =
            b === 0x7b
                ? 'object'
                : b === 0x5b
                  ? 'array'
                  : b === 0x22
                    ? 'text'
                    : b === 0x74
                      ? 'true'
                      : b === 0x66
                        ? 'false'
                        : b === 0x6e
                          ? 'null'
                          : b === 0x2d || (b >= 0x30 && b <= 0x39)
                            ? 'integer'
                            : null;
        if (type === null) this.broken(i, 'a value that is not JSON');
        let role = OTHER;
        let category: CategoryKey | undefined;
        if (!parent) {
            this.shape.topType = type;
            role = ROOT;
        } else if (!this.capture && !parent.array) {
            const key = parent.key;
            if (parent.role === ROOT) {
                if (key === 'data') {
                    this.shape.dataType = type;
                    this.items.push({ kind: 'data-start' });
                    role = DATA;
                } else if (HEADER_FIELDS.has(key)) {
                    this.startCapture(chunk, i, 'header', key);
                }
            } else if (parent.role === DATA && isCategoryKey(key)) {
                this.shape.categories.set(key, { type: type!, entriesType: null, entries: 0, dataType: null });
                role = CATEGORY;
                category = key;
            } else if (parent.role === CATEGORY) {
                const shape = this.shape.categories.get(parent.category!)!;
                if (key === 'entries') {
                    shape.entriesType = type;
                    role = ENTRIES;
                    category = parent.category;
                } else if (key === 'data') {
                    shape.dataType = type;
                    if (type === 'object') this.startCapture(chunk, i, 'data', 'data', parent.category);
                }
            }
        } else if (!this.capture && parent.role === ENTRIES) {
            // A row is a record the boat's collectors made; a bare value has no fields to key, view or query it by.
            if (type !== 'object') {
                throw new BoatDataError(
                    'EXPORT_INVALID',
                    `the ${parent.category} entry at data.${parent.category}.entries[${parent.count}] is ${JSON_TYPE_WORDS[type!]}, not a JSON object; every entry must be an object; nothing of this export was stored`,
                    400,
                );
            }
            this.startCapture(chunk, i, 'row', '', parent.category, parent.count, true);
        }
        if (type === 'object' || type === 'array') {
            if (this.stack.length >= this.limits.maxDepth) this.broken(i, `nesting deeper than ${this.limits.maxDepth} levels`);
            // Frames are reused, depth by depth: a million entries make no million objects for the collector.
            let frame = this.framePool[this.stack.length];
            if (!frame) frame = this.framePool[this.stack.length] = { array: false, role: OTHER, category: undefined, keys: null, key: '', count: 0 };
            frame.array = type === 'array';
            frame.role = type === 'array' ? (role === ENTRIES ? ENTRIES : OTHER) : role === ENTRIES ? OTHER : role;
            frame.category = category;
            if (type === 'object') {
                if (Array.isArray(frame.keys)) frame.keys.length = 0;
                else frame.keys = [];
            } else {
                frame.keys = null;
            }
            frame.key = '';
            frame.count = 0;
            this.stack.push(frame);
            this.state = type === 'object' ? KEY_OR_END : VALUE_OR_END;
        } else if (type === 'text') {
            const capture = this.capture;
            const wanted = capture !== null && capture.object && this.stack.length === capture.depth + 1 && capture.fields.includes(parent.key);
            this.startString(chunk, i, false, wanted || capture?.kind === 'header');
        } else {
            this.state = type === 'integer' ? NUMBER : LITERAL;
            this.tokenStart = i;
            this.tokenPrefix = '';
        }
    }

    private startString(chunk: Buffer, i: number, isKey: boolean, keep: boolean): void {
        this.state = STRING;
        this.stringBytes = 0;
        this.stringIsKey = isKey;
        this.stringParts = keep ? [] : null;
        this.stringStart = i + 1;
        void chunk;
    }

    private countString(bytes: number): void {
        this.stringBytes += bytes;
        if (this.stringBytes > this.limits.maxStringBytes) {
            throw new BoatDataError(
                'EXPORT_TOO_LARGE',
                `${this.where()} holds a string of more than ${formatMegabytes(this.limits.maxStringBytes)}, the most this ingest stores in one string; nothing of this export was stored`,
                413,
            );
        }
    }

    private endString(chunk: Buffer, next: number, raw: string): void {
        this.stringParts = null;
        const text = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (this.stringIsKey) {
            const frame = this.stack[this.stack.length - 1];
            this.addKey(frame, text, next - 1);
            frame.key = text;
            this.state = COLON;
            return;
        }
        this.valueEnded(chunk, next, 'text', text);
    }

    private addKey(frame: Frame, key: string, at: number): void {
        const keys = frame.keys!;
        const seen = Array.isArray(keys) ? keys.includes(key) : keys.has(key);
        if (seen) throw new BoatDataError('EXPORT_INVALID', `the export is not valid: ${this.where()} has the key ${JSON.stringify(key)} twice (byte ${this.consumed + at})`, 400);
        if (Array.isArray(keys)) {
            keys.push(key);
            if (keys.length > 16) frame.keys = new Set(keys);
        } else {
            keys.add(key);
            if (keys.size > this.limits.maxKeysPerObject) {
                throw new BoatDataError('EXPORT_TOO_LARGE', `${this.where()} has more than ${this.limits.maxKeysPerObject} keys; nothing of this export was stored`, 413);
            }
        }
    }

    private endScalarToken(chunk: Buffer, i: number, token: string): void {
        if (this.state === NUMBER) {
            if (!NUMBER_PATTERN.test(token)) this.broken(i, `"${token}" is not a number`);
            this.valueEnded(chunk, i, /^-?[0-9]+$/.test(token) ? 'integer' : 'real', token);
        } else {
            if (token !== 'true' && token !== 'false' && token !== 'null') this.broken(i, `"${token}" is not a JSON value`);
            this.valueEnded(chunk, i, token as JsonType, token === 'null' ? null : token === 'true' ? '1' : '0');
        }
    }

    private close(chunk: Buffer, i: number, array: boolean): void {
        const frame = this.stack.pop()!;
        if (frame.role === ENTRIES) this.shape.categories.get(frame.category!)!.entries = frame.count;
        this.valueEnded(chunk, i + 1, array ? 'array' : 'object', null);
    }

    /** A value ended just before byte `next` of `chunk`; `text` is a scalar's value as a row key would use it. */
    private valueEnded(chunk: Buffer, next: number, type: JsonType, text: string | null): void {
        const capture = this.capture;
        const parent = this.stack[this.stack.length - 1];
        if (capture) {
            if (this.stack.length === capture.depth) {
                this.flush(chunk, next);
                this.capture = null;
                this.segment = -1;
                this.finishCapture(capture, type);
            } else if (capture.object && this.stack.length === capture.depth + 1 && type !== 'object' && type !== 'array' && capture.fields.includes(parent.key)) {
                capture.found.set(parent.key, text);
            }
        }
        if (!parent) {
            this.state = DONE;
            return;
        }
        parent.count++;
        if (parent.role === ENTRIES) {
            this.rows++;
            if (parent.count > this.limits.maxRowsPerCategory) {
                throw new BoatDataError(
                    'EXPORT_TOO_LARGE',
                    `data.${parent.category}.entries holds more than ${this.limits.maxRowsPerCategory} rows, more than this ingest takes in one export; send incremental exports`,
                    413,
                );
            }
            if (this.rows > this.limits.maxRowsPerExport) {
                throw new BoatDataError(
                    'EXPORT_TOO_LARGE',
                    `the export holds more than ${this.limits.maxRowsPerExport} rows, more than this ingest takes in one export; send incremental exports`,
                    413,
                );
            }
        }
        this.state = AFTER;
    }

    private startCapture(chunk: Buffer, i: number, kind: Capture['kind'], name: string, category?: CategoryKey, index = 0, object = false): void {
        const capture = this.captureSlot;
        capture.kind = kind;
        capture.depth = this.stack.length;
        capture.text = '';
        capture.pending = null;
        capture.bytes = 0;
        capture.name = name;
        capture.category = category;
        capture.index = index;
        capture.object = object;
        capture.fields = kind === 'row' && object ? keyFieldsOf(category!) : [];
        capture.found.clear();
        this.capture = capture;
        this.segment = i;
        void chunk;
    }

    /** Keeps chunk[segment, end) of the value being captured. */
    private flush(chunk: Buffer, end: number): void {
        const capture = this.capture;
        if (!capture || this.segment < 0 || end <= this.segment) return;
        this.countCaptured(capture, end - this.segment);
        // Whitespace and chunk starts fall between characters, so a piece decodes on its own (after what was pending).
        if (capture.pending) {
            capture.text += Buffer.concat([capture.pending, chunk.subarray(this.segment, end)]).toString('utf8');
            capture.pending = null;
        } else {
            capture.text += chunk.toString('utf8', this.segment, end);
        }
        this.segment = end;
    }

    private countCaptured(capture: Capture, bytes: number): void {
        capture.bytes += bytes;
        if (capture.bytes > this.limits.maxRowBytes) {
            throw new BoatDataError(
                'EXPORT_TOO_LARGE',
                `${this.captureName(capture)} is larger than ${formatMegabytes(this.limits.maxRowBytes)}, the most this ingest stores in one row; nothing of this export was stored`,
                413,
            );
        }
    }

    private finishCapture(capture: Capture, type: JsonType): void {
        if (capture.pending) {
            capture.text += capture.pending.toString('utf8');
            capture.pending = null;
        }
        const text = capture.text;
        if (capture.kind === 'header') {
            this.shape.header.set(capture.name, { type, value: JSON.parse(text) });
        } else if (capture.kind === 'data') {
            this.items.push({ kind: 'data', category: capture.category!, data: text });
        } else {
            this.items.push({ kind: 'row', category: capture.category!, index: capture.index, entry: text, key: rowKeyOf(capture.category!, capture.object, capture.found, text) });
        }
    }

    private captureName(capture: Capture): string {
        if (capture.kind === 'row') return `the ${capture.category} entry at data.${capture.category}.entries[${capture.index}]`;
        if (capture.kind === 'data') return `data.${capture.category}.data`;
        return capture.name;
    }

    /** Where the parser is, for a message: the entry of a category when inside one, else the path. */
    private where(): string {
        if (this.capture) return this.captureName(this.capture);
        let path = '';
        for (let d = 1; d < this.stack.length; d++) {
            const parent = this.stack[d - 1];
            path += parent.array ? `[${parent.count}]` : `${path ? '.' : ''}${parent.key}`;
        }
        return path || 'the export';
    }

    private broken(at: number, what: string): never {
        throw new BoatDataError('EXPORT_INVALID', `the body is not valid JSON (${what} at byte ${this.consumed + at + 1})`, 400);
    }
}
