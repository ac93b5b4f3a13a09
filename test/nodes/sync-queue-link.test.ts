import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { helper, nextError, nextMessage } from '../support/node-red';
import { scratchFolder } from '../support/folders';
import { queueLayout } from '../queue/exports';
import configNode = require('../../nodes/config/config');
import syncQueueNode = require('../../nodes/sync-queue/sync-queue');

describe('d3kos-sync-queue node: the link', function () {
    this.timeout(20000);
    let scratch: ReturnType<typeof scratchFolder>;
    let layout: ReturnType<typeof queueLayout>;

    beforeEach(async () => {
        scratch = scratchFolder('sync-queue-link');
        layout = queueLayout(path.join(scratch.dir, 'd3kos'));
        fs.mkdirSync(path.dirname(layout.license), { recursive: true });
        fs.writeFileSync(layout.license, JSON.stringify({ installation_id: 'd3c0de5eab0a7001', tier: 2 }));
        await helper.load(
            [configNode, syncQueueNode],
            [
                { id: 'boat', type: 'd3kos-config', root: layout.root, mediaDir: layout.mediaDir, centralUrl: '' },
                { id: 'queue', type: 'd3kos-sync-queue', boat: 'boat', pollSeconds: '3600', retrySchedule: '0', wires: [['answers'], [], []] },
                { id: 'answers', type: 'helper' },
            ],
        );
    });
    afterEach(async () => {
        await helper.unload();
        scratch.remove();
    });

    async function ask(msg: Record<string, unknown>): Promise<any> {
        const answer = nextMessage(helper.getNode('answers'));
        helper.getNode('queue').receive(msg);
        return (await answer).payload;
    }

    it('answers the /api/link shape, and a metered choice set by POST is kept in data/link.json', async () => {
        const { suggestion, ...first } = await ask({ action: 'link' });
        assert.deepEqual(first, { success: true, kind: 'unmetered', daily_budget_mb: null, allow_backups: true, bytes_today: 0, budget_left_bytes: null, waiting: [] });
        // NetworkManager's view where it runs (null on a machine without it).
        assert.ok(suggestion === null || ['metered', 'unmetered'].includes(suggestion.kind));
        const set = await ask({ action: 'set-link', payload: { kind: 'metered', daily_budget_mb: 20 } });
        assert.deepEqual([set.kind, set.daily_budget_mb, set.allow_backups, set.budget_left_bytes], ['metered', 20, false, 20_000_000]);
        const stored = JSON.parse(fs.readFileSync(path.join(layout.root, 'data', 'link.json'), 'utf8'));
        assert.deepEqual(stored.choice, { kind: 'metered', daily_budget_mb: 20, allow_backups: false });
    });

    it('a body that is not a link is refused with 400 and what to send', async () => {
        const failed = nextError(helper.getNode('queue'));
        helper.getNode('queue').receive({ action: 'set-link', payload: { kind: 'carrier-pigeon' } });
        const err = await failed;
        assert.match(String(err.message ?? err), /kind must be "unmetered" or "metered"/);
    });
});
