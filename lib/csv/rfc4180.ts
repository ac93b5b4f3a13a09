/**
 * CSV as RFC 4180 writes it: CRLF line ends; a field holding a comma, a
 * double quote, CR or LF is wrapped in double quotes with its quotes doubled.
 * Text a spreadsheet would run as a formula (= + - @ tab CR at the start)
 * gets a leading apostrophe, inside the quoting; plain numbers stay numbers.
 */
export const CRLF = '\r\n';
export const BOM = '\uFEFF';

const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NEEDS_QUOTES = /[",\r\n]/;

export function neutraliseFormula(text: string): string {
    return FORMULA_START.test(text) && !PLAIN_NUMBER.test(text) ? `'${text}` : text;
}

export function csvField(value: unknown): string {
    if (value === null || value === undefined) return '';
    if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
    if (typeof value === 'bigint') return String(value);
    const text = neutraliseFormula(Buffer.isBuffer(value) ? value.toString('utf8') : String(value));
    return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRecord(values: unknown[]): string {
    return values.map(csvField).join(',') + CRLF;
}
