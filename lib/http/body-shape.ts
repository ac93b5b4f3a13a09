import { BoatDataError } from '../errors';

/**
 * What a route's body may hold, declared on its request guard as one line an
 * installer can read: `mode?: full|incremental` or
 * `name: backup-name, keep_installation_id?: boolean`. Each field is
 * `name: type`, `?` after the name when it may be left out; fields are
 * separated by commas or new lines; an empty declaration takes no fields.
 *
 * Types: `boolean`; `integer` or `integer 1..365`; `string` or `string 64`
 * (at most that many characters, no control characters); `name` (a file or
 * item name: letters, digits, `.`, `_`, `-`); `backup-name` (a d3kOS backup
 * archive, `d3kos_backup_<date>_<time>….tar.gz[.age]`); and a list of
 * words such as `off|daily|weekly`, one of which must be sent. `null` is
 * never a value: a field is sent with its type or left out.
 */
export interface FieldType {
    /** How the declaration spelt it, for messages. */
    text: string;
    /** null when the value fits, otherwise what is wrong ("must be true or false"). */
    check(value: unknown): string | null;
}

export interface BodyField {
    name: string;
    optional: boolean;
    type: FieldType;
}

export interface BodyShape {
    /** The declaration, normalised. */
    text: string;
    fields: BodyField[];
}

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const WORD = /^[A-Za-z0-9_.-]{1,64}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const BACKUP_NAME = /^d3kos_backup_\d{8}_\d{6}(?:_\d{1,4})?(?:_pre-restore)?\.tar\.gz(?:\.age)?$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const CONTROL = /[\u0000-\u001f\u007f]/;
const DEFAULT_STRING_MAX = 256;

const isText = (value: unknown): value is string => typeof value === 'string';

function typeOf(text: string): FieldType | null {
    if (text === 'boolean') {
        return { text, check: (v) => (typeof v === 'boolean' ? null : 'must be true or false') };
    }
    let m = /^integer(?:\s+(-?\d+)\.\.(-?\d+))?$/.exec(text);
    if (m) {
        const min = m[1] === undefined ? Number.MIN_SAFE_INTEGER : Number(m[1]);
        const max = m[2] === undefined ? Number.MAX_SAFE_INTEGER : Number(m[2]);
        if (min > max) return null;
        const range = m[1] === undefined ? '' : ` from ${min} to ${max}`;
        return { text, check: (v) => (Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? null : `must be a whole number${range}`) };
    }
    m = /^string(?:\s+(\d+))?$/.exec(text);
    if (m) {
        const max = m[1] === undefined ? DEFAULT_STRING_MAX : Number(m[1]);
        return { text, check: (v) => (isText(v) && v.length <= max && !CONTROL.test(v) ? null : `must be text of at most ${max} characters`) };
    }
    if (text === 'name') {
        return { text, check: (v) => (isText(v) && NAME.test(v) ? null : 'must be a name of letters, digits, ".", "_" and "-"') };
    }
    if (text === 'backup-name') {
        // A name, never a path: the backup node finds it in the backup folder.
        return { text, check: (v) => (isText(v) && BACKUP_NAME.test(v) ? null : 'is not the name of a d3kOS backup (give a name such as d3kos_backup_20260220_122502.tar.gz, not a path)') };
    }
    const words = text.split('|').map((w) => w.trim());
    if (words.length >= 2 && words.every((w) => WORD.test(w))) {
        const choices = words.map((w) => JSON.stringify(w));
        const said = `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
        return { text: words.join('|'), check: (v) => (isText(v) && words.includes(v) ? null : `must be ${said}`) };
    }
    return null;
}

/** Reads a declaration; a BoatDataError naming the part it cannot read. */
export function parseBodyShape(declaration: string | undefined): BodyShape {
    const fields: BodyField[] = [];
    for (const part of (declaration ?? '')
        .split(/[,\n]/)
        .map((p) => p.trim())
        .filter(Boolean)) {
        const m = /^([^:?\s]+)\s*(\?)?\s*:\s*(.+)$/.exec(part);
        const type = m ? typeOf(m[3].trim().replace(/\s+/g, ' ')) : null;
        if (!m || !FIELD_NAME.test(m[1]) || !type) {
            throw new BoatDataError(
                'BODY_SHAPE_INVALID',
                `cannot read "${part}" in the body setting: write name: type (name?: type when it may be left out), types boolean, integer 1..365, string 64, name, backup-name or words like off|daily|weekly`,
                500,
            );
        }
        if (fields.some((f) => f.name === m[1])) throw new BoatDataError('BODY_SHAPE_INVALID', `the body setting names "${m[1]}" twice`, 500);
        fields.push({ name: m[1], optional: m[2] === '?', type });
    }
    return { text: fields.map((f) => `${f.name}${f.optional ? '?' : ''}: ${f.type.text}`).join(', '), fields };
}

function quoted(name: string): string {
    return JSON.stringify(name.length > 40 ? name.slice(0, 40) + '…' : name);
}

function shown(value: unknown): string {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 60 ? text.slice(0, 60) + '…' : text;
}

/** Checks a parsed body against the shape: a 400 naming every unknown, missing or wrong field. */
export function checkBody(body: Record<string, unknown>, shape: BodyShape): void {
    const problems: string[] = [];
    const known = new Set(shape.fields.map((f) => f.name));
    const unknown = Object.keys(body).filter((key) => !known.has(key));
    if (unknown.length > 0) {
        const names = unknown.slice(0, 5).map(quoted).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '');
        const takes = shape.fields.length === 0 ? 'this route takes no fields' : `this route takes ${shape.text}`;
        problems.push(`unknown field${unknown.length > 1 ? 's' : ''} ${names} (${takes})`);
    }
    for (const field of shape.fields) {
        if (!Object.prototype.hasOwnProperty.call(body, field.name)) {
            if (!field.optional) problems.push(`"${field.name}" is missing`);
            continue;
        }
        const wrong = field.type.check(body[field.name]);
        if (wrong) problems.push(`"${field.name}" ${wrong}; got ${shown(body[field.name])}`);
    }
    if (problems.length > 0) throw new BoatDataError('BODY_FIELDS_INVALID', `the request body is refused: ${problems.join('; ')}`, 400);
}
