import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { cronFor, parseSchedule, readSchedule, scheduleFile, writeSchedule } from '../../lib/backup';
import { scratchFolder } from '../support/folders';

describe('the automatic backup schedule', () => {
    let scratch: ReturnType<typeof scratchFolder>;
    beforeEach(() => (scratch = scratchFolder('backup-schedule')));
    afterEach(() => scratch.remove());

    it('is remembered in a state file: what was written is read back', async () => {
        const file = scheduleFile(scratch.dir);
        assert.equal(await readSchedule(file), null);
        await writeSchedule(file, 'weekly');
        assert.equal(await readSchedule(file), 'weekly');
        await writeSchedule(file, 'off');
        assert.equal(await readSchedule(file), 'off');
        assert.deepEqual(fs.readdirSync(path.dirname(file)), [path.basename(file)]);
    });

    it('runs daily at 02:00 or weekly on Sunday at 02:00', () => {
        assert.equal(cronFor('daily'), '0 2 * * *');
        assert.equal(cronFor('weekly'), '0 2 * * 0');
        assert.equal(cronFor('off'), null);
    });

    it('refuses a choice that is not off, daily or weekly, naming it', () => {
        assert.equal(parseSchedule(' Daily '), 'daily');
        assert.throws(
            () => parseSchedule('hourly'),
            (err: any) => err.statusCode === 400 && /"off", "daily" or "weekly", not "hourly"/.test(err.message),
        );
    });

    it('a damaged state file is reported, not taken for "off"', async () => {
        const file = scheduleFile(scratch.dir);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, '{"schedule": "dai');
        await assert.rejects(readSchedule(file), /backup schedule .* is damaged/);
    });
});
