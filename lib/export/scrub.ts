/** What a secret value is replaced by in an export, as the settings and onboarding categories always did. */
export const REDACTED = '[redacted]';

/**
 * Takes the boat's secret values out of export JSON text on its way to the
 * file, whatever row or field carries them (a device key pasted into a
 * boatlog entry, a token inside an alert's metrics). The collectors hand
 * over JSON text built by SQLite, in pieces of any size, so:
 *
 * - a secret is looked for as it reads inside a JSON string (escaped), and
 *   escaped twice, as it reads in JSON text kept inside a text column;
 * - the end of a piece that could begin a secret (or ends inside an
 *   escape) is held back until the next one comes, so a value split across
 *   two pieces is still found;
 * - a match that starts inside an escape sequence (`\n`, `\u00e9`) is not
 *   the secret (the text differs) and is left alone, so the output stays
 *   valid JSON.
 *
 * One regular expression (the secrets as alternatives) finds them all in
 * one pass over each ~1 MB write; measured 0.1-2.5 ms per MB here,
 * depending on the secrets' first characters and the machine's load.
 */
export class JsonTextScrubber {
    private readonly needles: string[];
    private readonly pattern: RegExp | null;
    private readonly keep: number;
    private held = '';

    constructor(secrets: string[]) {
        const needles = new Set<string>();
        for (const secret of secrets) {
            if (secret.length === 0) continue;
            const once = JSON.stringify(secret).slice(1, -1);
            needles.add(once);
            needles.add(JSON.stringify(once).slice(1, -1));
        }
        // Longest first, so a secret that contains another is replaced whole.
        this.needles = [...needles].sort((a, b) => b.length - a.length);
        this.keep = this.needles.length > 0 ? this.needles[0].length - 1 : 0;
        this.pattern = this.needles.length > 0 ? new RegExp(this.needles.map(escapeRegExp).join('|'), 'g') : null;
    }

    get active(): boolean {
        return this.needles.length > 0;
    }

    /** The text that can be written now: scrubbed, with a tail held back for the next piece. */
    push(text: string | string[]): string {
        if (!this.active) return typeof text === 'string' ? text : text.join('');
        // One join with what was held: the only copy of the text made here.
        const window = this.scrub(typeof text === 'string' ? this.held + text : [this.held, ...text].join(''));
        const split = this.holdFrom(window);
        if (split === window.length) {
            // The common case: nothing at the end could begin a secret, so the text goes out whole (no copy).
            this.held = '';
            return window;
        }
        this.held = window.slice(split);
        return window.slice(0, split);
    }

    /**
     * Where the held-back tail starts: the first of the last `keep`
     * characters from which the text could still turn into a secret, moved
     * back to the start of an escape sequence it falls in; the text's length
     * when nothing needs holding.
     */
    private holdFrom(window: string): number {
        const from = Math.max(0, window.length - this.keep);
        for (let at = from; at < window.length; at++) {
            const rest = window.slice(at);
            if (this.needles.some((needle) => needle.startsWith(rest))) return escapeStart(window, at) ?? at;
        }
        // A text cut inside an escape (`\` at its very end) keeps that escape for the next piece.
        return escapeStart(window, window.length) ?? window.length;
    }

    /** Whatever is still held back, scrubbed: the end of the text. */
    end(): string {
        const rest = this.active ? this.scrub(this.held) : this.held;
        this.held = '';
        return rest;
    }

    /** Drops what is held (the text it belonged to was thrown away). */
    reset(): void {
        this.held = '';
    }

    private scrub(text: string): string {
        const pattern = this.pattern!;
        pattern.lastIndex = 0;
        let match = pattern.exec(text);
        if (!match) return text;
        const parts: string[] = [];
        let from = 0;
        while (match) {
            if (insideEscape(text, match.index)) {
                // Not the secret: its first characters belong to an escape. Look again one character on.
                pattern.lastIndex = match.index + 1;
            } else {
                parts.push(text.slice(from, match.index), REDACTED);
                from = match.index + match[0].length;
            }
            match = pattern.exec(text);
        }
        if (parts.length === 0) return text;
        parts.push(text.slice(from));
        return parts.join('');
    }
}

function escapeRegExp(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether position `at` of JSON text is the middle of an escape sequence (`\x` or `\uXXXX`). */
function insideEscape(text: string, at: number): boolean {
    return escapeStart(text, at) !== null;
}

/** Where the escape sequence that position `at` is strictly inside of starts, or null when `at` starts a token. */
function escapeStart(text: string, at: number): number | null {
    if (backslashesBefore(text, at) % 2 === 1) return at - 1;
    // \uXXXX: a real backslash, then u, then up to three hex digits before `at`.
    for (let k = 1; k <= 4 && at - k - 1 >= 0; k++) {
        const u = at - k;
        if (text[u] === 'u' && text[u - 1] === '\\' && backslashesBefore(text, u) % 2 === 1) {
            return /^[0-9a-fA-F]*$/.test(text.slice(u + 1, at)) ? u - 1 : null;
        }
    }
    return null;
}

function backslashesBefore(text: string, at: number): number {
    let n = 0;
    while (at - n - 1 >= 0 && text.charCodeAt(at - n - 1) === 92) n++;
    return n;
}
