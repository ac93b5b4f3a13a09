import assert from 'node:assert/strict';
import { runCrashTest } from '../../tools/crash-test';

// The crash test at a small count; `npm run crash-test -- --kills 200` runs it at full length.
describe('the crash test (real boat and central Node-REDs, SIGKILL at random moments)', function () {
    this.timeout(150000);

    it('5 kills during export, enqueue and upload lose no boatlog row, duplicate none, and every queue file loads', async () => {
        const lines: string[] = [];
        const result = await runCrashTest({ kills: 5, log: (line) => lines.push(line) });
        const report = `${lines.join('\n')}\n${JSON.stringify(result, null, 2)}`;
        assert.equal(result.kills, 5);
        assert.equal(lines.filter((line) => /^kill \d+\/5:/.test(line)).length, 5, report);
        assert.ok(result.rows_on_boat > 500, `the writer added rows while the boat was killed\n${report}`);
        assert.deepEqual(result.unloadable_queues, [], report);
        assert.deepEqual([result.missing, result.unexpected, result.duplicates], [0, 0, 0], report);
        assert.equal(result.rows_central, result.rows_on_boat, report);
        assert.equal(result.ok, true, report);
    });
});
