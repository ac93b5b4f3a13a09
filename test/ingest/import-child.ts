// A separate central ingest that imports one export file, so a test can SIGKILL it mid-import; with "busy",
// another boat imports small exports meanwhile, so the SQLite store writes the big one in several transactions.
import * as fs from 'fs';
import { importJson } from '../../lib/ingest/import-export';
import { IngestStore } from '../../lib/ingest/store';
import { smallExport } from './uploads';

export const OTHER_BOAT = '0743407434074340';

// Only when run as a script: mocha, given this folder, loads every .ts file in it.
if (require.main === module) importOnce(process.argv[2], process.argv[3], process.argv[4] === 'busy');

function importOnce(dataDir: string, exportFile: string, busy: boolean): void {
    (async () => {
        const text = fs.readFileSync(exportFile, 'utf8');
        const store = await IngestStore.open(dataDir);
        let done = false;
        const others = (async () => {
            for (let i = 0; busy && !done; i++) await importJson(store, smallExport(OTHER_BOAT, `small-${i}`, 5));
        })();
        process.stdout.write('importing\n');
        const answer = await importJson(store, text);
        done = true;
        await others;
        process.stdout.write(`imported ${answer.import_id}\n`);
        await store.close();
    })().catch((err) => {
        console.error(err);
        process.exit(1);
    });
}
