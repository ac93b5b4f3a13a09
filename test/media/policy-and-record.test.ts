import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { cleanUpMedia, DEFAULT_POLICY, mediaStateFile, readLastCleanup, recordCleanup, resolvePolicy } from '../../lib/media';
import { scratchFolder } from '../support/folders';

describe('media retention settings', () => {
    it('the defaults are a week, jpg and mp4, 90→80 % and 95→85 %', () => {
        assert.deepEqual(resolvePolicy({}), DEFAULT_POLICY);
        assert.deepEqual(DEFAULT_POLICY, {
            maxAgeDays: 7,
            extensions: ['.jpg', '.mp4'],
            warningPercent: 90,
            warningTargetPercent: 80,
            criticalPercent: 95,
            criticalTargetPercent: 85,
        });
    });

    it('settings arrive as the editor stores them (strings) and are normalised', () => {
        const policy = resolvePolicy({ maxAgeDays: '14', extensions: '*.JPG, .mp4 h264', warningPercent: '85', warningTargetPercent: '75' });
        assert.equal(policy.maxAgeDays, 14);
        assert.deepEqual(policy.extensions, ['.jpg', '.mp4', '.h264']);
        assert.equal(policy.warningPercent, 85);
    });

    it('a bad maximum age names the value and what is allowed', () => {
        for (const bad of [0, -3, 2.5, 'seven', 1000]) {
            assert.throws(
                () => resolvePolicy({ maxAgeDays: bad }),
                (err: any) => {
                    assert.equal(err.code, 'MAX_AGE_INVALID');
                    assert.equal(err.statusCode, 400);
                    assert.match(err.message, /whole number of days from 1 to 365 \(usually 3, 7, 14, 30\); got/);
                    return true;
                },
            );
        }
    });

    it('file types that are not plain extensions, or none at all, are refused', () => {
        assert.throws(() => resolvePolicy({ extensions: '../etc' }), /plain extensions such as jpg or mp4; "\.\.\/etc" is not one/);
        assert.throws(() => resolvePolicy({ extensions: ' , ' }), /no media file types are set/);
    });

    it('a target at or above its threshold, or a critical threshold below the warning one, is refused', () => {
        assert.throws(() => resolvePolicy({ warningTargetPercent: 90 }), /each target must be below its threshold/);
        assert.throws(() => resolvePolicy({ criticalPercent: 88, criticalTargetPercent: 80 }), /critical threshold \(88 %\) must not be below the warning threshold \(90 %\)/);
        assert.throws(() => resolvePolicy({ warningPercent: 120 }), /the warning threshold must be a percentage/);
    });
});

describe('the last-cleanup record', () => {
    let scratch: ReturnType<typeof scratchFolder>;
    beforeEach(() => (scratch = scratchFolder('media-state')));
    afterEach(() => scratch.remove());

    it('survives a restart: written under the boat root, read back as it was', async () => {
        const file = mediaStateFile(scratch.dir);
        assert.equal(file, path.join(scratch.dir, 'state', 'media-cleanup.json'));
        assert.deepEqual(await readLastCleanup(file), { last: null });
        const report = await cleanUpMedia({ mediaDir: path.join(scratch.dir, 'media'), policy: DEFAULT_POLICY, trigger: 'schedule', dryRun: true });
        const written = await recordCleanup(file, report);
        const read = await readLastCleanup(file);
        assert.deepEqual(read.last, written);
        assert.equal(read.last?.trigger, 'schedule');
        assert.equal(read.last?.dry_run, true);
        assert.deepEqual(fs.readdirSync(path.dirname(file)), ['media-cleanup.json'], 'no temp file is left beside it');
    });

    it('a damaged record reads as no cleanup, with the reason, rather than failing the status', async () => {
        const file = mediaStateFile(scratch.dir);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, '{"last_cleanup": {"at": "2025-');
        const read = await readLastCleanup(file);
        assert.equal(read.last, null);
        assert.match(read.problem ?? '', /media-cleanup\.json is not valid JSON/);
    });
});
