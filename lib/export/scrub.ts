/** What a secret value is replaced by in an export, as the settings and onboarding categories always did. */
export const REDACTED = '[redacted]';

const EMPTY = Buffer.alloc(0);
const REDACTED_BYTES = Buffer.from(REDACTED, 'utf8');
const BACKSLASH = 0x5c;
const LETTER_U = 0x75;

/**
 * Takes the boat's secret values out of export JSON on its way to the
 * file, whatever row or field carries them (a device key pasted into a
 * boatlog entry, a token inside an alert's metrics). The collectors hand
 * over JSON as UTF-8 bytes (SQLite builds the rows' JSON and gives it as
 * bytes, never as a JavaScript string), in pieces of any size, so:
 *
 * - a secret is looked for as its UTF-8 bytes read inside a JSON string
 *   (escaped), and escaped twice, as in JSON text kept inside a text column;
 * - the end of a piece that could begin a secret (or ends inside an
 *   escape) is held back until the next one comes, so a value split across
 *   two pieces (or inside one of its characters) is still found;
 * - a match that starts inside an escape sequence (`\n`, `\u00e9`) is not
 *   the secret (the text differs) and is left alone, so the output stays
 *   valid JSON.
 *
 * Each secret is searched with Buffer#indexOf (a skipping search in C++),
 * and the earliest match wins, the longest of those starting there. Bytes
 * with no secret in them go on as they came, never decoded or copied.
 */
export class JsonTextScrubber {
    private readonly needles: Buffer[];
    private readonly keep: number;
    private held: Buffer = EMPTY;

    constructor(secrets: string[]) {
        const needles = new Map<string, Buffer>();
        for (const secret of secrets) {
            if (secret.length === 0) continue;
            const once = JSON.stringify(secret).slice(1, -1);
            for (const text of [once, JSON.stringify(once).slice(1, -1)]) needles.set(text, Buffer.from(text, 'utf8'));
        }
        // Longest first, so where two start at one place, a secret that contains another is replaced whole.
        this.needles = [...needles.values()].sort((a, b) => b.length - a.length);
        this.keep = this.needles.length > 0 ? this.needles[0].length - 1 : 0;
    }

    get active(): boolean {
        return this.needles.length > 0;
    }

    /** The bytes that can be written now: scrubbed, with a tail held back for the next piece. */
    push(pieces: Buffer | Buffer[]): Buffer {
        const list = Array.isArray(pieces) ? pieces : [pieces];
        if (!this.active) return list.length === 1 ? list[0] : Buffer.concat(list);
        // One copy with what was held, none when nothing was.
        const window = this.held.length === 0 && list.length === 1 ? list[0] : Buffer.concat([this.held, ...list]);
        // The tail that could still begin a secret is looked at with the next piece (before any replacing, which would hide it).
        const { out, upTo } = this.scrub(window, this.holdFrom(window));
        // The held tail is copied: it must not keep the whole piece alive.
        this.held = upTo === window.length ? EMPTY : Buffer.from(window.subarray(upTo));
        return out;
    }

    /**
     * Where the held-back tail starts: the first of the last `keep` bytes
     * from which the text could still turn into a secret, moved back to the
     * start of an escape sequence it falls in; the length when nothing needs holding.
     */
    private holdFrom(window: Buffer): number {
        const end = window.length;
        for (let at = Math.max(0, end - this.keep); at < end; at++) {
            const rest = end - at;
            if (this.needles.some((needle) => needle.length >= rest && needle.compare(window, at, end, 0, rest) === 0)) return escapeStart(window, at) ?? at;
        }
        // A text cut inside an escape (`\` at its very end) keeps that escape for the next piece.
        return escapeStart(window, end) ?? end;
    }

    /** Whatever is still held back, scrubbed: the end of the text. */
    end(): Buffer {
        const rest = this.held;
        this.held = EMPTY;
        return this.active && rest.length > 0 ? this.scrub(rest, rest.length).out : rest;
    }

    /** Drops what is held (the text it belonged to was thrown away). */
    reset(): void {
        this.held = EMPTY;
    }

    /**
     * The bytes up to `hold` with each secret replaced (the very same buffer
     * when there is none), and how far they reach: a secret that starts
     * before `hold` is replaced whole, even where it runs past it.
     */
    private scrub(bytes: Buffer, hold: number): { out: Buffer; upTo: number } {
        const needles = this.needles;
        const next = needles.map((needle) => bytes.indexOf(needle));
        const parts: Buffer[] = [];
        let from = 0;
        for (;;) {
            // The earliest match; among those starting there, the longest (needles are longest first).
            let best = -1;
            for (let i = 0; i < needles.length; i++) if (next[i] >= 0 && (best < 0 || next[i] < next[best])) best = i;
            if (best < 0 || next[best] >= hold) break;
            const at = next[best];
            if (insideEscape(bytes, at)) {
                // Not the secret: its first characters belong to an escape. Look again one byte on.
                for (let i = 0; i < needles.length; i++) if (next[i] === at) next[i] = bytes.indexOf(needles[i], at + 1);
                continue;
            }
            parts.push(bytes.subarray(from, at), REDACTED_BYTES);
            from = at + needles[best].length;
            for (let i = 0; i < needles.length; i++) if (next[i] >= 0 && next[i] < from) next[i] = bytes.indexOf(needles[i], from);
        }
        const upTo = Math.max(from, hold);
        if (parts.length === 0) return { out: upTo === bytes.length ? bytes : bytes.subarray(0, upTo), upTo };
        parts.push(bytes.subarray(from, upTo));
        return { out: Buffer.concat(parts), upTo };
    }
}

/** Whether position `at` of JSON bytes is the middle of an escape sequence (`\x` or `\uXXXX`). */
function insideEscape(bytes: Buffer, at: number): boolean {
    return escapeStart(bytes, at) !== null;
}

/** Where the escape sequence that position `at` is strictly inside of starts, or null when `at` starts a token. */
function escapeStart(bytes: Buffer, at: number): number | null {
    if (backslashesBefore(bytes, at) % 2 === 1) return at - 1;
    // \uXXXX: a real backslash, then u, then up to three hex digits before `at`.
    for (let k = 1; k <= 4 && at - k - 1 >= 0; k++) {
        const u = at - k;
        if (bytes[u] === LETTER_U && bytes[u - 1] === BACKSLASH && backslashesBefore(bytes, u) % 2 === 1) {
            for (let i = u + 1; i < at; i++) if (!isHexDigit(bytes[i])) return null;
            return u - 1;
        }
    }
    return null;
}

function isHexDigit(byte: number): boolean {
    return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}

function backslashesBefore(bytes: Buffer, at: number): number {
    let n = 0;
    while (at - n - 1 >= 0 && bytes[at - n - 1] === BACKSLASH) n++;
    return n;
}
