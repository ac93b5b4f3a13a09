import assert from 'node:assert/strict';
import { whereJsonBreaks } from '../../lib/ingest/json-break';

// devices.json and operators.json errors name the place a file breaks instead of quoting it.

describe('finding where a JSON text breaks', () => {
    it('agrees with JSON.parse on which texts are JSON, over many damaged copies of a devices.json', () => {
        const good = JSON.stringify({ 'k3-token': '0123456789abcdef', list: [1, -2.5e3, true, false, null, 'a\\"\u00e9\\u00e9'], nested: { a: [] } }, null, 2);
        const damage = ['', ' ', '"', ',', ':', '}', ']', '{', '[', 'x', '\\', '0', '-', '.', 'e', 'n', '\t', '\n'];
        let seed = 7;
        const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
        let checked = 0;
        for (let i = 0; i < 3000; i++) {
            const at = random(good.length + 1);
            const cut = random(3);
            const text = good.slice(0, at) + damage[random(damage.length)] + good.slice(at + cut);
            let parses = true;
            try {
                JSON.parse(text);
            } catch {
                parses = false;
            }
            assert.equal(whereJsonBreaks(text) === undefined, parses, `disagree on ${JSON.stringify(text)}`);
            checked += parses ? 0 : 1;
        }
        assert.ok(checked > 1000, `${checked} broken texts were checked`);
    });

    it('names the line and column of the first break', () => {
        assert.deepEqual(whereJsonBreaks('TOKEN=abc'), { line: 1, column: 1 });
        assert.deepEqual(whereJsonBreaks('{\n  "a": 1,\n  "b" 2\n}'), { line: 3, column: 7 });
        assert.deepEqual(whereJsonBreaks('{"a": '), { line: 1, column: 7 });
        assert.deepEqual(whereJsonBreaks('["a"] x'), { line: 1, column: 7 });
    });
});
