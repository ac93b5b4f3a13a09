import assert from 'node:assert/strict';
import { noticeFor, noticesFor } from '../../lib/status/notices';

// /health's problems as the helm shows them: a severity, a plain headline, the one thing to do.

describe("/health's notices: each problem as a headline and the one thing to do", () => {
    it('the problems other parts raise, by their opening words, get the severity the contract gives them', () => {
        const cases: Array<[string, 'warning' | 'critical', RegExp]> = [
            ['the Node-RED editor has no password: anyone on the boat network can change the flows', 'critical', /adminAuth.*settings\.js/],
            ['an interrupted restore was completed from its staging', 'warning', /restart/i],
            ['an interrupted restore was rolled back from the safety backup', 'warning', /restore again|start the restore/i],
            ['the newest backup failed its restore drill: boatlog.db does not pass integrity_check', 'critical', /boatlog\.db does not pass integrity_check/],
            ['no backup has been proven restorable for 14 days', 'warning', /Prove restorable/],
            ['license.json at /opt/d3kos/config/license.json is not valid JSON (Unexpected end of JSON input)', 'critical', /^Check license\.json: it is not valid JSON/],
            ['the disk holding data/exports is full (120 KB free); exports cannot be written until space is freed', 'critical', /Free space/],
        ];
        for (const [problem, severity, action] of cases) {
            const notice = noticeFor(problem);
            assert.equal(notice.severity, severity, problem);
            assert.match(notice.action, action, problem);
            assert.doesNotMatch(notice.headline, /ECONN|EACCES|JSON input|\/opt\//, 'a headline in plain words');
        }
    });

    it('a problem no rule knows is still shown, in its own words, as a warning', () => {
        assert.deepEqual(noticeFor('something new went wrong'), { severity: 'warning', headline: 'd3kOS needs attention', action: 'Something new went wrong' });
    });

    it('critical notices come first, and the same notice twice is shown once', () => {
        const notices = noticesFor(['no backup has been proven restorable for 14 days', 'license.json was not found at /x', 'license.json was not found at /y']);
        assert.deepEqual(
            notices.map((n) => n.severity),
            ['critical', 'warning'],
        );
    });
});
