import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { publicMessage } from '../../lib/http/public-message';

describe('error messages as they leave the boat', () => {
    it('an absolute path keeps only its last part; URLs, routes and relative names stay', () => {
        assert.equal(publicMessage('backup x was not found in /opt/d3kos/backups'), 'backup x was not found in backups');
        assert.equal(publicMessage("ENOENT: no such file, open '/opt/d3kos/data/boatlog/boatlog.db'"), "ENOENT: no such file, open 'boatlog.db'");
        assert.equal(publicMessage('"../../etc/passwd" is not a backup in /tmp/a/backups; give its name'), '"../../etc/passwd" is not a backup in backups; give its name');
        assert.equal(publicMessage('the central API at http://central/api/v1/data/import answered 500'), 'the central API at http://central/api/v1/data/import answered 500');
        assert.equal(publicMessage('use POST on /health'), 'use POST on /health');
    });
});

describe("the boat flow's error answers", () => {
    // The JSONata of the change nodes that turn a caught error into {success:false, error}, as Node-RED runs it.
    const jsonata = require('jsonata');
    const flow: any[] = JSON.parse(fs.readFileSync(path.join(__dirname, '../../flows/boat.json'), 'utf8'));
    const answers = flow.filter((n) => n.type === 'change' && n.rules.some((r: any) => r.p === 'payload' && /error\.message/.test(r.to)));

    it('every one of them leaves out absolute paths as publicMessage does', async () => {
        assert.deepEqual(answers.map((n) => n.id).sort(), ['backup-error', 'build-error', 'rest-error', 'storage-error']);
        for (const node of answers) {
            const rule = node.rules.find((r: any) => r.p === 'payload');
            for (const message of ['BoatDataError: backup d3kos_backup_20990101_000000.tar.gz was not found in /tmp/x/backups', "ENOENT: open '/opt/d3kos/data/boatlog/boatlog.db'"]) {
                const answer = await jsonata(rule.to).evaluate({ error: { message, source: { type: 'd3kos-backup' } }, error_code: 'X' });
                assert.equal(answer.error, publicMessage(message.replace(/^[A-Za-z]*Error: /, '')), node.id);
                assert.doesNotMatch(answer.error, /\/tmp\/|\/opt\//);
            }
        }
    });
});
