/** Where a JSON text stops being JSON, 1-based, for an error that must not quote the text. */
export interface JsonBreak {
    line: number;
    column: number;
}

/**
 * Finds the first place `text` breaks the JSON grammar. JSON.parse's own
 * message quotes the start of the text (Node 20: `Unexpected token 'T',
 * "TOKEN=abc…" is not valid JSON`), which for devices.json is a device token;
 * this names only the line and column. Undefined when the text is JSON.
 */
export function whereJsonBreaks(text: string): JsonBreak | undefined {
    let at = 0;
    const broken = (): never => {
        throw new BreakAt(at);
    };
    const skipSpace = () => {
        while (at < text.length && (text[at] === ' ' || text[at] === '\t' || text[at] === '\n' || text[at] === '\r')) at++;
    };
    const expect = (char: string) => {
        skipSpace();
        if (text[at] !== char) broken();
        at++;
    };
    const string = () => {
        at++;
        while (at < text.length) {
            const char = text[at];
            if (char === '"') return void at++;
            if (char < ' ') broken();
            if (char === '\\') {
                at++;
                if (text[at] === 'u') {
                    if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 1, at + 5))) broken();
                    at += 4;
                } else if (!'"\\/bfnrt'.includes(text[at] ?? '!')) {
                    broken();
                }
            }
            at++;
        }
        broken();
    };
    const value = (): void => {
        skipSpace();
        const char = text[at];
        if (char === '{')
            return members('}', () => {
                skipSpace();
                if (text[at] !== '"') broken();
                string();
                expect(':');
                value();
            });
        if (char === '[') return members(']', value);
        if (char === '"') return string();
        const number = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
        number.lastIndex = at;
        if (number.test(text)) return void (at = number.lastIndex);
        const word = ['true', 'false', 'null'].find((w) => text.startsWith(w, at));
        if (!word) broken();
        at += word!.length;
    };
    const members = (close: string, member: () => void) => {
        at++;
        skipSpace();
        if (text[at] === close) return void at++;
        for (;;) {
            member();
            skipSpace();
            if (text[at] === ',') {
                at++;
                continue;
            }
            if (text[at] === close) return void at++;
            broken();
        }
    };

    try {
        value();
        skipSpace();
        if (at < text.length) broken();
        return undefined;
    } catch (err) {
        // Nesting deep enough to exhaust the stack: the start is as near as can be told.
        const offset = err instanceof BreakAt ? err.offset : 0;
        return lineAndColumn(text, offset);
    }
}

class BreakAt {
    constructor(readonly offset: number) {}
}

function lineAndColumn(text: string, offset: number): JsonBreak {
    const before = text.slice(0, offset);
    const lines = before.split('\n');
    return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}
