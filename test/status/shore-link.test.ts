import assert from 'node:assert/strict';
import type { QueueSnapshot } from '../../lib/queue/snapshot';
import { shoreLink } from '../../lib/status/shore-link';
import type { WorkerState } from '../../lib/upload/worker';

// The shore link as the helm's status strip reads it from GET /export/queue/status: one state, the reason in words.

const NOW = new Date('2026-12-07T12:00:00Z');

function snapshot(fields: Partial<QueueSnapshot> = {}): QueueSnapshot {
    return {
        pending: 2,
        failed: 0,
        pending_count: 2,
        uploading_count: 0,
        completed_count: 0,
        failed_count: 0,
        next_pending: { queue_id: 'q1', export_id: 'e1', next_retry_at: '2026-12-07T11:00:00Z', attempts: 1 },
        items: { pending: [], uploading: [], failed: [], completed: [] },
        last_upload: null,
        last_updated: null,
        waiting_bytes: 123456,
        waiting_exports: 2,
        ...fields,
    };
}

function worker(fields: Partial<WorkerState> = {}): WorkerState {
    return { central_reachable: null, central_problem: null, uploads_blocked: null, blocked_because: null, uploading: null, last_check_at: '2026-12-07T11:59:00Z', ...fields };
}

describe('the shore link in the owner’s words (GET /export/queue/status shore_link)', () => {
    it('out of reach says the central server does not answer, never the socket error, with what waits and the next poll', () => {
        const link = shoreLink(snapshot(), worker({ central_reachable: false, central_problem: 'the central API at http://x is out of reach (connect ECONNREFUSED 127.0.0.1:9)' }), 5 * 60_000, NOW);
        assert.equal(link.state, 'out-of-reach');
        assert.equal(link.reason, 'the central server does not answer');
        assert.equal(link.waiting_exports, 2);
        assert.equal(link.waiting_bytes, 123456);
        assert.equal(link.next_try_at, '2026-12-07T12:04:00.000Z');
    });

    it('a device token the central API refuses (401/403) is said as such, until an upload is confirmed again', () => {
        const failed = {
            queue_id: 'q2',
            export_id: 'e2',
            status: 'failed' as const,
            mode: null,
            created_at: '2026-12-07T10:00:00Z',
            file_size_bytes: 1,
            category_count: 9,
            attempts: 3,
            max_attempts: 3,
            next_retry_at: null,
            next_retry: null,
            last_error: 'the central API refused the export: 401 Unauthorized (device token not known)',
            failed_at: '2026-12-07T11:30:00Z',
        };
        const refused = snapshot({ items: { pending: [], uploading: [], failed: [failed], completed: [] } });
        assert.equal(shoreLink(refused, worker({ central_reachable: true }), 60_000, NOW).reason, 'this boat’s device token is refused');
        const since = { ...refused, last_upload: { export_id: 'e3', queue_id: 'q3', completed_at: '2026-12-07T11:45:00Z', import_id: null, records_imported: null } };
        const again = shoreLink(since, worker({ central_reachable: true }), 60_000, NOW);
        assert.equal(again.state, 'connected');
        assert.equal(again.last_confirmed_at, '2026-12-07T11:45:00Z');
    });

    it('no central URL set is "no central server is set", with no next try', () => {
        const link = shoreLink(snapshot(), worker({ blocked_because: 'no-central-api', uploads_blocked: 'No central API is set' }), 60_000, NOW);
        assert.deepEqual([link.state, link.reason, link.next_try_at], ['not-set', 'no central server is set', null]);
    });

    it('a next try due in the future is that time; nothing waiting has none', () => {
        const later = snapshot({ next_pending: { queue_id: 'q1', export_id: 'e1', next_retry_at: '2026-12-07T12:30:00Z', attempts: 1 } });
        assert.equal(shoreLink(later, worker({ central_reachable: true }), 60_000, NOW).next_try_at, '2026-12-07T12:30:00.000Z');
        assert.equal(shoreLink(snapshot({ pending_count: 0, waiting_exports: 0, next_pending: null }), worker({ central_reachable: true }), 60_000, NOW).next_try_at, null);
    });
});
