import assert from 'node:assert/strict';
import { duplicateKey, jsonDepth, parseJsonObject, valueDepth } from '../../lib/http/json-body';

describe('a JSON body parsed with a depth limit', () => {
    it('an empty or blank body is an empty object; one flat object is itself', () => {
        assert.deepEqual(parseJsonObject(Buffer.alloc(0)), {});
        assert.deepEqual(parseJsonObject(' \n\t'), {});
        assert.deepEqual(parseJsonObject(Buffer.from('{"dry_run":true,"max_age_days":3}')), { dry_run: true, max_age_days: 3 });
    });

    it('2,000 levels of [[[[ are refused before JSON.parse sees them', () => {
        const deep = '['.repeat(2000) + ']'.repeat(2000);
        assert.throws(
            () => parseJsonObject(deep),
            (err: any) => err.statusCode === 400 && err.code === 'BODY_TOO_DEEP',
        );
        assert.throws(() => parseJsonObject('{"a":'.repeat(5) + '1' + '}'.repeat(5)), /nests deeper than 4 levels/);
        assert.deepEqual(parseJsonObject('{"a":{"b":{"c":[1]}}}'), { a: { b: { c: [1] } } });
    });

    it('brackets inside strings, escaped quotes included, do not count as nesting', () => {
        assert.equal(jsonDepth('{"note":"[[[[[[[[\\"{{{{{{"}'), 1);
        assert.equal(jsonDepth('{"a":"\\\\","b":[[1]]}'), 3);
        assert.deepEqual(parseJsonObject('{"note":"[[[[[[[[[[[["}'), { note: '[[[[[[[[[[[[' });
    });

    for (const [body, kind] of [
        ['true', 'true'],
        ['123', '123'],
        ['null', 'null'],
        ['"dry_run"', 'a string'],
        ['[{"dry_run":true}]', 'an array'],
    ]) {
        it(`${body} is refused: a body is one JSON object, not ${kind}`, () => {
            assert.throws(
                () => parseJsonObject(body),
                (err: any) => err.statusCode === 400 && err.code === 'BODY_NOT_OBJECT' && err.message.endsWith(`not ${kind}`),
            );
        });
    }

    it('malformed JSON and bytes that are not UTF-8 are 400s that say so', () => {
        assert.throws(
            () => parseJsonObject('{"mode":'),
            (err: any) => err.code === 'BODY_NOT_JSON' && /not valid JSON/.test(err.message),
        );
        assert.throws(
            () => parseJsonObject(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])),
            (err: any) => err.code === 'BODY_NOT_UTF8',
        );
    });

    it('the depth of an already parsed value is measured without recursion', () => {
        let deep: unknown = 1;
        for (let i = 0; i < 100000; i++) deep = [deep];
        assert.equal(valueDepth(deep, 4), 5);
        assert.equal(valueDepth({ a: { b: 1 } }), 2);
        assert.equal(valueDepth('text'), 0);
    });

    it('a key named twice is refused, naming it, in an object at any depth; the same key in sibling objects is fine', () => {
        assert.throws(
            () => parseJsonObject('{"dry_run":true,"dry_run":false}'),
            (err: any) => err.statusCode === 400 && err.code === 'BODY_DUPLICATE_KEY' && err.message.includes('"dry_run" twice'),
        );
        assert.throws(() => parseJsonObject('{"a":{"b":1,"\\u0062":2}}'), /"b" twice/);
        assert.equal(duplicateKey('{"a":[{"k":1},{"k":2}],"b":"a","c":{"a":1}}'), null);
        assert.equal(duplicateKey('{"note":"x\\",\\"note","z":1}'), null);
    });
});
