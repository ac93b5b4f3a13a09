import assert from 'node:assert/strict';
import axios from 'axios';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { choiceFromBody, parseLinkSetting } from '../../lib/link/choice';
import { BoatLink, boatDay, MB } from '../../lib/link/link';
import { forgetSuggestion, networkManagerSuggestion, parseNmcliMetered } from '../../lib/link/network-manager';
import { scratchFolder } from '../support/folders';

describe('the boat link', () => {
    let scratch: ReturnType<typeof scratchFolder>;
    beforeEach(() => (scratch = scratchFolder('link')));
    afterEach(() => scratch.remove());

    describe('the choice', () => {
        it('D3KOS_LINK gives the default: unmetered, metered, metered with a daily budget', () => {
            assert.deepEqual(parseLinkSetting(''), { kind: 'unmetered', daily_budget_mb: null, allow_backups: true });
            assert.deepEqual(parseLinkSetting('unmetered'), { kind: 'unmetered', daily_budget_mb: null, allow_backups: true });
            assert.deepEqual(parseLinkSetting('metered'), { kind: 'metered', daily_budget_mb: null, allow_backups: false });
            assert.deepEqual(parseLinkSetting('Metered:20'), { kind: 'metered', daily_budget_mb: 20, allow_backups: false });
            assert.throws(() => parseLinkSetting('cellular'), /D3KOS_LINK "cellular" is not understood; use "unmetered", "metered" or "metered:20"/);
        });

        it('a POST body keeps what it leaves out from the metered link before, and unmetered allows everything', () => {
            const metered = choiceFromBody({ kind: 'metered', daily_budget_mb: 5 }, parseLinkSetting(''));
            assert.deepEqual(metered, { kind: 'metered', daily_budget_mb: 5, allow_backups: false });
            assert.deepEqual(choiceFromBody({ kind: 'metered', allow_backups: true }, metered), { kind: 'metered', daily_budget_mb: 5, allow_backups: true });
            assert.deepEqual(choiceFromBody({ kind: 'unmetered' }, metered), { kind: 'unmetered', daily_budget_mb: null, allow_backups: true });
            assert.throws(() => choiceFromBody({ kind: 'satellite' }, metered), /kind must be "unmetered" or "metered"/);
        });

        it('is remembered in data/link.json, read back by a new process, and wins over D3KOS_LINK', async () => {
            const file = path.join(scratch.dir, 'data', 'link.json');
            const first = new BoatLink(file, () => 'metered:20');
            assert.equal((await first.choice()).daily_budget_mb, 20, 'the default before the owner chose');
            await first.setChoice({ kind: 'unmetered', daily_budget_mb: null, allow_backups: true });
            const later = new BoatLink(file, () => 'metered:20');
            assert.equal((await later.choice()).kind, 'unmetered');
            assert.ok(!fs.readdirSync(path.dirname(file)).some((n) => n.endsWith('.tmp')), 'written atomically, no temp file left');
        });

        it('a damaged link file means the default, not a stopped queue', async () => {
            const file = path.join(scratch.dir, 'link.json');
            fs.writeFileSync(file, '{"choice": {"kind": "metered"');
            assert.deepEqual(await new BoatLink(file, () => 'metered:3').choice(), { kind: 'metered', daily_budget_mb: 3, allow_backups: false });
        });
    });

    describe("NetworkManager's suggestion", () => {
        it('reads nmcli -t output: one metered device makes it metered, "no" on all unmetered, else nothing', () => {
            assert.equal(parseNmcliMetered('GENERAL.METERED:yes (guessed)\nGENERAL.METERED:no\n'), 'metered');
            assert.equal(parseNmcliMetered('GENERAL.METERED:no (guessed)\n\nGENERAL.METERED:no\n'), 'unmetered');
            assert.equal(parseNmcliMetered('GENERAL.METERED:unknown\nGENERAL.METERED:no\n'), null);
            assert.equal(parseNmcliMetered(''), null);
        });

        it('is null where nmcli is absent, and answers at once', async () => {
            forgetSuggestion();
            const began = Date.now();
            assert.equal(await networkManagerSuggestion(path.join(scratch.dir, 'no-nmcli-here')), null);
            assert.ok(Date.now() - began < 5000);
            forgetSuggestion();
        });

        it('is taken from a program that answers as nmcli does', async () => {
            const fake = path.join(scratch.dir, 'nmcli');
            fs.writeFileSync(fake, '#!/bin/sh\necho "GENERAL.METERED:yes"\n', { mode: 0o755 });
            forgetSuggestion();
            assert.deepEqual(await networkManagerSuggestion(fake), { kind: 'metered', source: 'networkmanager' });
            forgetSuggestion();
        });
    });

    describe('the byte count', () => {
        let server: http.Server;
        let url: string;
        let seenByServer: number;
        beforeEach(async () => {
            seenByServer = 0;
            server = http.createServer((req, res) => {
                req.resume();
                req.on('end', () => res.end('x'.repeat(5000)));
            });
            server.on('connection', (socket) => socket.on('close', () => (seenByServer += socket.bytesRead + socket.bytesWritten)));
            await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
            url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        });
        afterEach(async () => {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
        });

        it('counts what the sockets carried, headers included, as the other end saw it', async () => {
            const link = new BoatLink(path.join(scratch.dir, 'link.json'));
            const agents = { httpAgent: link.meter.httpAgent };
            await axios.post(url, Buffer.alloc(20000, 1), agents);
            await axios.get(url, agents);
            await new Promise((resolve) => setTimeout(resolve, 100));
            const counted = await link.bytesToday();
            assert.ok(counted > 25000 + 5000, `${counted} bytes counted`);
            assert.equal(counted, seenByServer, 'the same bytes both ends saw');
        });

        it('survives a restart the same day, starts again the next boat-local day', async () => {
            const file = path.join(scratch.dir, 'link.json');
            let now = new Date(2026, 11, 7, 23, 50);
            const link = new BoatLink(
                file,
                () => undefined,
                () => now,
            );
            await axios.get(url, { httpAgent: link.meter.httpAgent });
            await new Promise((resolve) => setTimeout(resolve, 100));
            await link.flush();
            const before = await link.bytesToday();
            assert.ok(before > 5000);
            assert.equal(
                await new BoatLink(
                    file,
                    () => undefined,
                    () => now,
                ).bytesToday(),
                before,
                'read back after a restart',
            );
            now = new Date(2026, 11, 8, 0, 5);
            assert.equal(boatDay(now), '2026-12-08');
            assert.equal(
                await new BoatLink(
                    file,
                    () => undefined,
                    () => now,
                ).bytesToday(),
                0,
                'a new day',
            );
        });

        it('a reservation a crash never released stays counted: the budget is never overspent by a power cut', async () => {
            const file = path.join(scratch.dir, 'link.json');
            const link = new BoatLink(file, () => 'metered:1');
            await link.reserve(400_000);
            assert.equal(await link.budgetLeft(), 1 * MB - 400_000);
            // The process dies here; the next one reads the file.
            const next = new BoatLink(file, () => 'metered:1');
            assert.equal(await next.bytesToday(), 400_000);
            const release = await next.reserve(100_000);
            await release();
            assert.equal(await next.bytesToday(), 400_000, 'a released reservation gives way to what was counted (nothing was sent)');
        });
    });
});
