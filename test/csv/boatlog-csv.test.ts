import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import { boatlogCsvBuffer, writeBoatlogCsv, writeBoatlogCsvFile } from '../../lib/csv/boatlog-csv';
import { scratchFolder } from '../support/folders';
import { queryRows, runSql } from '../support/sqlite';
import { buildDemoBoat, DemoBoat } from '../../tools/demo-boat';

/**
 * RFC 4180, strictly: records end in CRLF; a field is either bare (no quote,
 * comma, CR or LF in it) or wrapped in quotes with inner quotes doubled, and
 * a closing quote is followed by a comma, CRLF or the end. Anything else throws.
 */
function parseRfc4180(text: string): string[][] {
    const records: string[][] = [];
    let record: string[] = [];
    let i = 0;
    const fail = (why: string) => {
        throw new Error(`not RFC 4180 at character ${i} (record ${records.length + 1}): ${why}`);
    };
    while (i < text.length) {
        let field = '';
        if (text[i] === '"') {
            i++;
            for (;;) {
                if (i >= text.length) fail('a quoted field is never closed');
                if (text[i] === '"') {
                    if (text[i + 1] === '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                field += text[i++];
            }
        } else {
            while (i < text.length && text[i] !== ',' && text[i] !== '\r') {
                if (text[i] === '"' || text[i] === '\n') fail(`a bare field holds ${JSON.stringify(text[i])}`);
                field += text[i++];
            }
        }
        record.push(field);
        if (text[i] === ',') {
            i++;
            if (i === text.length) fail('the text ends after a comma');
        } else if (text.startsWith('\r\n', i)) {
            i += 2;
            records.push(record);
            record = [];
        } else if (i < text.length) fail(`${JSON.stringify(text[i])} after a field`);
    }
    if (record.length > 0) fail('the last record has no CRLF');
    return records;
}

const BOM = '\uFEFF';
const HEADER = ['Timestamp', 'Type', 'Content', 'Latitude', 'Longitude'];
/** What a spreadsheet would run as a formula. */
const FORMULA_LIKE = /^[=+\-@\t\r]/;

describe('the boatlog as CSV', function () {
    this.timeout(30000);
    let scratch: ReturnType<typeof scratchFolder>;
    let boat: DemoBoat;

    beforeEach(async () => {
        scratch = scratchFolder('boatlog-csv');
        boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 300, telemetryRows: 0 });
    });
    afterEach(() => scratch.remove());

    it('parses as strict RFC 4180 to the rows and text of the database, newlines, quotes, commas and unicode included', async () => {
        const { data, rows } = await boatlogCsvBuffer(boat.layout.boatlogDb, { batchRows: 64 });
        const text = data.toString('utf8');
        assert.ok(text.startsWith(BOM), 'no byte order mark');
        assert.deepEqual([...data.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
        const [header, ...records] = parseRfc4180(text.slice(1));
        assert.deepEqual(header, HEADER);

        const stored = await queryRows(boat.layout.boatlogDb, 'SELECT timestamp, entry_type, content, latitude, longitude FROM boatlog_entries ORDER BY rowid');
        assert.equal(rows, stored.length);
        assert.equal(records.length, stored.length);
        stored.forEach((row: any, i) => {
            const [timestamp, type, content, latitude, longitude] = records[i];
            assert.equal(timestamp, row.timestamp);
            assert.equal(type, row.entry_type);
            assert.equal(content, FORMULA_LIKE.test(row.content) ? `'${row.content}` : row.content, `row ${i + 1}`);
            assert.equal(latitude === '' ? null : Number(latitude), row.latitude);
            assert.equal(longitude === '' ? null : Number(longitude), row.longitude);
        });
        for (const awkward of boat.awkwardTexts.filter((t) => !FORMULA_LIKE.test(t))) {
            assert.ok(
                records.some((r) => r[2] === awkward),
                `${JSON.stringify(awkward.slice(0, 30))} did not come out as it is stored`,
            );
        }
    });

    it('neutralises cells a spreadsheet would run as formulas, and leaves plain numbers alone', async () => {
        await runSql(
            boat.layout.boatlogDb,
            `DELETE FROM boatlog_entries;
             INSERT INTO boatlog_entries (entry_id, timestamp, entry_type, content, latitude, longitude) VALUES
               ('f1', '2026-11-02T00:00:00Z', 'text', '=HYPERLINK("http://example.invalid","x")', -33.8568, -151.2153),
               ('f2', '2026-11-02T00:01:00Z', '=cmd|'' /C calc''!A0', '-5', NULL, NULL),
               ('f3', '2026-11-02T00:02:00Z', 'text', '@SUM(1,2)', NULL, NULL);`,
        );
        const [, ...records] = parseRfc4180((await boatlogCsvBuffer(boat.layout.boatlogDb)).data.toString('utf8').slice(1));
        assert.deepEqual(records, [
            ['2026-11-02T00:00:00Z', 'text', `'=HYPERLINK("http://example.invalid","x")`, '-33.8568', '-151.2153'],
            ['2026-11-02T00:01:00Z', `'=cmd|' /C calc'!A0`, '-5', '', ''],
            ['2026-11-02T00:02:00Z', 'text', `'@SUM(1,2)`, '', ''],
        ]);
    });

    it('a boat with no boatlog database, or no boatlog table, gives the header line only', async () => {
        const headerOnly = `${BOM}Timestamp,Type,Content,Latitude,Longitude\r\n`;
        const missing = await boatlogCsvBuffer(path.join(scratch.dir, 'nowhere', 'boatlog.db'));
        assert.equal(missing.data.toString('utf8'), headerOnly);
        assert.equal(missing.source_found, false);
        await runSql(boat.layout.boatlogDb, 'DROP TABLE boatlog_entries');
        const noTable = await boatlogCsvBuffer(boat.layout.boatlogDb);
        assert.equal(noTable.data.toString('utf8'), headerOnly);
        assert.equal(noTable.rows, 0);
    });

    it('a damaged boatlog database is an error naming it, and no CSV file is left behind', async () => {
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(boat.layout.boatlogDb + suffix, { force: true });
        fs.writeFileSync(boat.layout.boatlogDb, 'this is not a database '.repeat(200));
        const target = path.join(scratch.dir, 'out', 'boatlog.csv');
        await assert.rejects(writeBoatlogCsvFile(boat.layout.boatlogDb, target), /boatlog\.db is damaged/);
        assert.deepEqual(fs.readdirSync(path.dirname(target)), []);
    });

    it('streams a long log batch by batch, waiting for a slow reader, to the same rows', async () => {
        const out = new PassThrough({ highWaterMark: 1024 });
        const chunks: Buffer[] = [];
        let pauses = 0;
        out.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            out.pause();
            pauses++;
            setImmediate(() => out.resume());
        });
        const result = await writeBoatlogCsv(boat.layout.boatlogDb, out, { batchRows: 25 });
        out.end();
        const text = Buffer.concat(chunks).toString('utf8');
        assert.equal(Buffer.byteLength(text), result.bytes);
        assert.equal(parseRfc4180(text.slice(1)).length, result.rows + 1);
        assert.equal(result.rows, 300);
        assert.ok(pauses > 10);
    });

    it('a CSV written to a file appears whole under its name', async () => {
        const target = path.join(scratch.dir, 'usb', 'boatlog.csv');
        const result = await writeBoatlogCsvFile(boat.layout.boatlogDb, target);
        assert.equal(fs.statSync(target).size, result.bytes);
        assert.deepEqual(fs.readdirSync(path.dirname(target)), ['boatlog.csv']);
    });
});
