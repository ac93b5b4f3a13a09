import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';
import { CATEGORY_KEYS } from '../../lib/categories';
import { exportBoatData } from '../../lib/export/collect-export';
import { JsonTextScrubber, REDACTED } from '../../lib/export/scrub';
import { runSql } from '../support/sqlite';
import { scratchFolder } from '../support/folders';
import { assertCompleteExport, readExports } from '../support/exports';

/** JSON text through the scrubber in pieces cut at the given places. */
function scrubInPieces(secrets: string[], text: string, cuts: number[]): string {
    const scrubber = new JsonTextScrubber(secrets);
    const out: Buffer[] = [];
    let from = 0;
    for (const cut of [...cuts, text.length]) {
        out.push(scrubber.push(Buffer.from(text.slice(from, cut), 'utf8')));
        from = cut;
    }
    out.push(scrubber.end());
    return Buffer.concat(out).toString('utf8');
}

describe('secret values are scrubbed from export JSON text', function () {
    describe('the scrubber', () => {
        const key = 'd3kos-dev-4f1c9a7e2b8d6053';

        it('finds a secret split across two pieces at every possible place', () => {
            const value = { entries: [{ content: `key was ${key}, pasted by mistake` }, { content: key }] };
            const text = JSON.stringify(value);
            for (let cut = 0; cut <= text.length; cut++) {
                const out = scrubInPieces([key], text, [cut]);
                assert.ok(!out.includes(key), `cut at ${cut}`);
                assert.deepEqual(JSON.parse(out), { entries: [{ content: `key was ${REDACTED}, pasted by mistake` }, { content: REDACTED }] }, `cut at ${cut}`);
            }
        });

        it('finds a secret with quotes and backslashes as JSON escapes it, and escaped twice inside JSON kept as text', () => {
            const odd = 'pa"ss\\word-91!x';
            const value = { a: `x${odd}y`, nested: JSON.stringify({ token: odd }) };
            const text = JSON.stringify(value);
            for (let cut = 0; cut <= text.length; cut += 3) {
                const out = scrubInPieces([odd], text, [cut, Math.min(text.length, cut + 7)]);
                const parsed = JSON.parse(out);
                assert.equal(parsed.a, `x${REDACTED}y`);
                assert.deepEqual(JSON.parse(parsed.nested), { token: REDACTED });
            }
        });

        it("leaves text alone where the secret's characters only appear across an escape, and the JSON stays valid", () => {
            // A newline followed by "abc…" reads `\nabc…` in JSON: it contains the characters of "nabc…" but not the value.
            const secret = 'nabcdefgh12';
            const value = { a: `\nabcdefgh12`, b: 'é\u0001abcdefgh12', c: `${secret}` };
            const text = JSON.stringify(value);
            for (let cut = 0; cut <= text.length; cut++) {
                const out = scrubInPieces([secret], text, [cut]);
                assert.deepEqual(JSON.parse(out), { a: value.a, b: value.b, c: REDACTED }, `cut at ${cut}: ${out}`);
            }
        });

        it('finds a secret with letters beyond ASCII split inside one of its characters, at every byte', () => {
            const secret = 'pässwörd-ключ-9';
            const bytes = Buffer.from(JSON.stringify({ a: `x${secret}y`, b: 'é ünchanged' }), 'utf8');
            for (let cut = 0; cut <= bytes.length; cut++) {
                const scrubber = new JsonTextScrubber([secret]);
                const out = Buffer.concat([scrubber.push(bytes.subarray(0, cut)), scrubber.push(bytes.subarray(cut)), scrubber.end()]).toString('utf8');
                assert.deepEqual(JSON.parse(out), { a: `x${REDACTED}y`, b: 'é ünchanged' }, `cut at byte ${cut}: ${out}`);
            }
        });

        it('replaces a secret that contains another whole, and each of several secrets in one piece', () => {
            const inner = 'tok-7f3a9c21';
            const outer = `wx-${inner}-e5d0b8`;
            const text = JSON.stringify({ a: `1 ${outer} 2 ${inner} 3`, b: `${inner}${outer}`, c: 'nothing here' });
            for (let cut = 0; cut <= text.length; cut += 5) {
                const out = JSON.parse(scrubInPieces([inner, outer], text, [cut]));
                assert.deepEqual(out, { a: `1 ${REDACTED} 2 ${REDACTED} 3`, b: `${REDACTED}${REDACTED}`, c: 'nothing here' }, `cut at ${cut}`);
            }
        });

        it('passes text through untouched when the boat has no secrets', () => {
            const scrubber = new JsonTextScrubber([]);
            const piece = Buffer.from('{"a":');
            assert.equal(scrubber.push(piece), piece, 'the very same bytes, not a copy');
            assert.equal(scrubber.end().length, 0);
        });
    });

    describe('a full export', function () {
        this.timeout(120000);
        let scratch: ReturnType<typeof scratchFolder>;
        let boat: DemoBoat;

        beforeEach(async () => {
            scratch = scratchFolder('export-scrub');
            boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 40, telemetryRows: 300 });
        });
        afterEach(() => scratch.remove());

        it('holds no secret of the boat in any category, rows included, and says [redacted] where one was', async () => {
            const credentials = JSON.parse(fs.readFileSync(boat.layout.cloudCredentials, 'utf8'));
            const deviceKey: string = credentials.device_api_key;
            const signalk = /^SIGNALK_TOKEN=(.*)$/m.exec(fs.readFileSync(boat.layout.vesselEnv, 'utf8'))![1];
            // Secrets pasted where they do not belong, in every kind of source.
            await runSql(boat.layout.boatlogDb, `INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content) VALUES ('pasted', '2026-11-30T10:00:00Z', 'text', 'device key: ${deviceKey}')`);
            await runSql(boat.layout.telemetryDb, `INSERT INTO telemetry_events (timestamp, event_type, data) VALUES ('2026-11-30T10:00:00Z', 'config', '{"signalk_token":"${signalk}"}')`);
            await runSql(boat.layout.issuesDb, `INSERT INTO issues (timestamp, category, severity, description) VALUES ('2026-11-30T10:00:00Z', 'network', 'low', 'upload refused for ${deviceKey}')`);
            fs.writeFileSync(boat.layout.alertsJson, JSON.stringify([{ timestamp: '2026-11-30T10:00:00Z', message: `token ${signalk} rejected` }]));

            await exportBoatData(boat.layout, 'full');
            const [only] = readExports(boat.layout.exportFilesDir);
            assertCompleteExport(only);
            for (const secret of boat.secrets) assert.ok(!only.text.includes(secret), `a secret value is in the export`);
            const boatlog = only.json.data.boatlog.entries.find((e: any) => e.entry_id === 'pasted');
            assert.equal(boatlog.content, `device key: ${REDACTED}`);
            const telemetry = only.json.data.telemetry.entries.find((e: any) => e.event_type === 'config');
            assert.equal(telemetry.data, `{"signalk_token":"${REDACTED}"}`);
            assert.ok(JSON.stringify(only.json.data.system_alerts).includes(`upload refused for ${REDACTED}`));
            assert.ok(JSON.stringify(only.json.data.system_alerts).includes(`token ${REDACTED} rejected`));
            assert.equal(Object.keys(only.json.data).length, CATEGORY_KEYS.length);
        });
    });
});
