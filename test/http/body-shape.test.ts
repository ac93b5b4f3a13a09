import assert from 'node:assert/strict';
import { checkBody, parseBodyShape } from '../../lib/http/body-shape';

const cleanup = parseBodyShape('dry_run?: boolean, max_age_days?: integer 1..365');
const restore = parseBodyShape('name: backup-name\nkeep_installation_id?: boolean');
const fails = (body: Record<string, unknown>, shape = cleanup) => {
    try {
        checkBody(body, shape);
        return null;
    } catch (err: any) {
        assert.equal(err.statusCode, 400);
        return err.message as string;
    }
};

describe('body shapes declared on a request guard', () => {
    it('reads the declarations of the boat flow and writes them back the same', () => {
        assert.equal(cleanup.text, 'dry_run?: boolean, max_age_days?: integer 1..365');
        assert.equal(restore.text, 'name: backup-name, keep_installation_id?: boolean');
        assert.equal(parseBodyShape('mode ?:  full | incremental').text, 'mode?: full|incremental');
        assert.deepEqual(parseBodyShape('').fields, []);
        assert.deepEqual(parseBodyShape(undefined).fields, []);
    });

    for (const bad of ['mode', 'mode: anything', 'mode: full', '1mode: boolean', 'a: boolean, a: boolean', 'n: integer 5..1', 'x: string -1']) {
        it(`refuses to read "${bad}", naming what it cannot read`, () => {
            assert.throws(
                () => parseBodyShape(bad),
                (err: any) => err.code === 'BODY_SHAPE_INVALID',
            );
        });
    }

    it('the bodies that ran a real media deletion are each refused, naming the problem', () => {
        assert.match(fails({ dryRun: true })!, /unknown field "dryRun" \(this route takes dry_run\?: boolean, max_age_days\?: integer 1\.\.365\)/);
        assert.match(fails({ 'dry_run ': true })!, /unknown field "dry_run "/);
        assert.match(fails({ dry_run: null })!, /"dry_run" must be true or false; got null/);
        assert.match(fails({ dry_run: 'true' })!, /"dry_run" must be true or false; got "true"/);
        assert.equal(fails({ dry_run: true }), null);
        assert.equal(fails({}), null);
    });

    it('integers in range, whole, and numbers only', () => {
        assert.equal(fails({ max_age_days: 365 }), null);
        for (const value of [0, 366, 1.5, '30', null, Infinity]) assert.match(fails({ max_age_days: value })!, /must be a whole number from 1 to 365/);
    });

    it('every problem is named in one answer, and a route without fields says it takes none', () => {
        const message = fails({ a: 1, b: 2, dry_run: 0 })!;
        assert.match(message, /unknown fields "a", "b"/);
        assert.match(message, /"dry_run" must be true or false/);
        assert.match(fails({ all: true }, parseBodyShape(''))!, /unknown field "all" \(this route takes no fields\)/);
    });

    it('a backup name is a name: no path, no other file', () => {
        assert.equal(fails({ name: 'd3kos_backup_20260220_122502.tar.gz' }, restore), null);
        assert.equal(fails({ name: 'd3kos_backup_20260220_122502_2_pre-restore.tar.gz.age', keep_installation_id: false }, restore), null);
        for (const name of ['../../etc/passwd', '/opt/d3kos/backups/d3kos_backup_20260220_122502.tar.gz', 'd3kos_backup_20260220_122502.tar.gz\u0000', 'boatlog.db', 7]) {
            assert.match(fails({ name }, restore)!, /"name" is not the name of a d3kOS backup/);
        }
        assert.match(fails({}, restore)!, /"name" is missing/);
    });

    it('words, names and strings', () => {
        const shape = parseBodyShape('schedule: off|daily|weekly, label?: name, note?: string 5');
        assert.equal(fails({ schedule: 'weekly', label: 'helm-2.local', note: 'hello' }, shape), null);
        assert.match(fails({ schedule: 'Weekly' }, shape)!, /must be "off", "daily" or "weekly"/);
        assert.match(fails({ schedule: 'off', label: '../x' }, shape)!, /"label" must be a name/);
        assert.match(fails({ schedule: 'off', note: 'too long' }, shape)!, /at most 5 characters/);
        assert.match(fails({ schedule: 'off', note: 'a\nb' }, shape)!, /"note" must be text/);
    });
});
