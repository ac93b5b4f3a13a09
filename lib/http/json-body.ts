import { BoatDataError } from '../errors';

/**
 * A boat route's body: empty, or one JSON object nested a few levels at most.
 * The nesting is counted on the text before JSON.parse sees it, so 2,000
 * levels of `[[[[…` never become a value deep enough to overflow the stack of
 * whatever walks it later (a message clone for a Catch node did).
 */
export const MAX_JSON_DEPTH = 4;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** How deep `text` nests arrays and objects, outside strings; stops counting past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
    let depth = 0;
    let deepest = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (inString) {
            if (c === 0x5c)
                i++; // backslash: skip the escaped character
            else if (c === 0x22) inString = false;
        } else if (c === 0x22) {
            inString = true;
        } else if (c === 0x5b || c === 0x7b) {
            if (++depth > deepest) deepest = depth;
            if (deepest > limit) return deepest;
        } else if (c === 0x5d || c === 0x7d) {
            depth--;
        }
    }
    return deepest;
}

function kindOf(value: unknown): string {
    if (value === null) return 'null';
    if (Array.isArray(value)) return 'an array';
    if (typeof value === 'string') return 'a string';
    return String(value);
}

/** The body as a plain object: `{}` when empty; a 400 naming the problem otherwise. */
export function parseJsonObject(body: Buffer | string, maxDepth = MAX_JSON_DEPTH): Record<string, unknown> {
    let text: string;
    try {
        text = typeof body === 'string' ? body : utf8.decode(body);
    } catch {
        throw new BoatDataError('BODY_NOT_UTF8', 'the request body is not UTF-8 text; send JSON', 400);
    }
    if (text.trim() === '') return {};
    if (jsonDepth(text, maxDepth) > maxDepth) {
        throw new BoatDataError('BODY_TOO_DEEP', `the request body nests deeper than ${maxDepth} levels; send one flat JSON object`, 400);
    }
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch (err) {
        throw new BoatDataError('BODY_NOT_JSON', `the request body is not valid JSON (${(err as Error).message})`, 400);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new BoatDataError('BODY_NOT_OBJECT', `the request body must be one JSON object such as {} or {"mode":"full"}, not ${kindOf(value)}`, 400);
    }
    const twice = duplicateKey(text);
    if (twice !== null) {
        throw new BoatDataError('BODY_DUPLICATE_KEY', `the request body names "${twice}" twice; send each field once`, 400);
    }
    return value as Record<string, unknown>;
}

/**
 * The first key an object of valid JSON `text` names twice, or null. JSON.parse keeps the last, so
 * `{"dry_run":true,"dry_run":false}` would run what a reader of the first field does not expect.
 */
export function duplicateKey(text: string): string | null {
    // One entry per open bracket: the keys seen for an object, null for an array.
    const open: Array<Set<string> | null> = [];
    let expectKey = false;
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (c === '"') {
            let end = i + 1;
            while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
            const keys = open[open.length - 1];
            if (expectKey && keys) {
                const key = JSON.parse(text.slice(i, end + 1)) as string;
                if (keys.has(key)) return key;
                keys.add(key);
                expectKey = false;
            }
            i = end;
        } else if (c === '{') {
            open.push(new Set());
            expectKey = true;
        } else if (c === '[') {
            open.push(null);
        } else if (c === '}' || c === ']') {
            open.pop();
        } else if (c === ',') {
            expectKey = open.length > 0 && open[open.length - 1] !== null;
        }
    }
    return null;
}

/** The depth of an already parsed value, walked without recursion, stopping past `limit`. */
export function valueDepth(value: unknown, limit = Infinity): number {
    let deepest = 0;
    const stack: Array<[unknown, number]> = [[value, 0]];
    while (stack.length > 0) {
        const [item, depth] = stack.pop()!;
        if (typeof item !== 'object' || item === null || Buffer.isBuffer(item)) continue;
        if (depth + 1 > deepest) deepest = depth + 1;
        if (deepest > limit) return deepest;
        for (const child of Object.values(item)) stack.push([child, depth + 1]);
    }
    return deepest;
}
