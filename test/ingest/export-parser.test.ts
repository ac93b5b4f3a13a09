import assert from 'node:assert/strict';
import { ExportParser, ParsedItem } from '../../lib/ingest/export-parser';

// The streaming parser sees an export in slices cut anywhere: what it reads must not depend on where.

const EXPORT = JSON.stringify({
    export_id: 'export_slices',
    installation_id: '0123456789abcdef',
    tier: 2,
    format_version: '1.0',
    data: {
        boatlog: { entries: [{ entry_id: 1, note: 'héllo ⚓ "quoted" \\ back', ok: true, none: null, n: -12.5e3 }, { entry_id: '2', nested: { a: [1, 2, { b: false }] } }, { note: 'no key' }] },
        settings: { data: { units: 'metric', ünïcode: '日本' } },
    },
});

function parseInSlices(text: string, size: number): { items: ParsedItem[]; parser: ExportParser } {
    const bytes = Buffer.from(text);
    const parser = new ExportParser();
    const items: ParsedItem[] = [];
    for (let at = 0; at < bytes.length; at += size) {
        parser.write(bytes.subarray(at, at + size));
        items.push(...parser.items);
        parser.items = [];
    }
    parser.end();
    return { items, parser };
}

describe('central ingest: the streaming export parser', () => {
    it('reads the same rows, keys and header whatever size the slices are (1 byte to all at once)', () => {
        const whole = parseInSlices(EXPORT, 1 << 20).items;
        const entries = JSON.parse(EXPORT).data.boatlog.entries;
        assert.deepEqual(
            whole.filter((i) => i.kind === 'row').map((i) => (i.kind === 'row' ? JSON.parse(i.entry) : null)),
            entries,
        );
        assert.deepEqual(
            whole
                .filter((i) => i.kind === 'row')
                .map((i) => (i.kind === 'row' ? i.key : null))
                .slice(0, 2),
            ['1', '2'],
        );
        for (const size of [1, 2, 3, 5, 7, 64]) {
            const { items, parser } = parseInSlices(EXPORT, size);
            assert.deepEqual(items, whole, `slices of ${size} bytes`);
            assert.equal(parser.shape.header.get('tier')?.value, 2);
            assert.equal(parser.shape.header.get('installation_id')?.value, '0123456789abcdef');
        }
    });

    it('keeps whitespace inside strings and drops it between tokens', () => {
        const spaced = EXPORT.replace(/,"/g, ' ,\n  "').replace(/:/g, ' : ');
        const rows = parseInSlices(spaced, 3).items.filter((i) => i.kind === 'row');
        assert.deepEqual(
            rows.map((i) => (i.kind === 'row' ? JSON.parse(i.entry) : null)),
            JSON.parse(spaced).data.boatlog.entries,
        );
        assert.equal(rows[0].kind === 'row' && rows[0].entry.includes(' '), true, 'the note keeps its spaces');
    });

    it('refuses an entry that is not a JSON object with 400, naming the first one', () => {
        for (const [value, words] of [
            ['0', 'a number'],
            ['"str"', 'a string'],
            ['null', 'null'],
            ['[1,2]', 'an array'],
            ['true', 'true'],
        ]) {
            const text = EXPORT.replace('{"note":"no key"}', `${value},{"note":"no key"},${value}`);
            for (const size of [1, 1 << 20]) {
                assert.throws(
                    () => parseInSlices(text, size),
                    (err: any) => err.statusCode === 400 && err.message.startsWith(`the boatlog entry at data.boatlog.entries[2] is ${words}, not a JSON object`),
                    value,
                );
            }
        }
    });

    for (const [what, text] of [
        ['a truncated export', EXPORT.slice(0, -3)],
        ['a bare word', EXPORT.replace('true', 'truth')],
        ['a number with two points', EXPORT.replace('-12500', '1.2.3')],
        ['a control character in a string', EXPORT.replace('héllo', 'hé\u0001llo')],
        ['text after the export', `${EXPORT} {}`],
    ]) {
        it(`refuses ${what} as not valid JSON, in any slicing`, () => {
            for (const size of [1, 4, 1 << 20]) assert.throws(() => parseInSlices(text, size), /not valid JSON/);
        });
    }
});
