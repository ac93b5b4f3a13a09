import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConnectionCap, connectionLimits, openFileLimit } from '../../lib/http/connection-cap';

describe('the cap on open connections', () => {
    it('each address holds up to its share, all others together up to the total, and the helm has its own allowance', () => {
        const cap = new ConnectionCap({ perAddress: 3, total: 5, helm: 2 });
        assert.deepEqual(
            [1, 2, 3, 4].map(() => cap.admit('192.168.1.23')),
            [true, true, true, false],
        );
        assert.deepEqual(
            [1, 2, 3].map(() => cap.admit('192.168.1.24')),
            [true, true, false],
        );
        assert.equal(cap.admit('127.0.0.2'), false, 'all other clients together are at the total');
        assert.deepEqual(
            [1, 2, 3].map(() => cap.admit('127.0.0.1')),
            [true, true, false],
        );
        assert.equal(cap.admit('::1'), true);
        cap.release('192.168.1.23');
        assert.equal(cap.admit('10.0.0.5'), true, 'a closed connection makes room');
        assert.equal(cap.admit('10.0.0.5'), false);
    });

    it('the limits follow the open-file limit, leaving room for files and the helm', () => {
        assert.deepEqual(connectionLimits(4096), { total: 2048, perAddress: 256, helm: 512 });
        assert.deepEqual(connectionLimits(1024), { total: 512, perAddress: 256, helm: 128 });
        assert.deepEqual(connectionLimits(1048576), { total: 4096, perAddress: 256, helm: 512 });
        assert.deepEqual(connectionLimits(100), { total: 64, perAddress: 64, helm: 16 });
    });

    it('the open-file limit is read from /proc; unreadable, there is none', () => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'd3kos-limits-')), 'limits');
        fs.writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            4096                 8192                 files\n');
        assert.equal(openFileLimit(file), 4096);
        assert.equal(openFileLimit(file + '.missing'), null);
        fs.rmSync(path.dirname(file), { recursive: true });
    });
});
