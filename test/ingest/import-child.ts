// A separate central ingest that imports one export file, so a test can SIGKILL it mid-import.
import * as fs from 'fs';
import { importJson } from '../../lib/ingest/import-export';
import { IngestStore } from '../../lib/ingest/store';

// Only when run as a script: mocha, given this folder, loads every .ts file in it.
if (require.main === module) importOnce(process.argv[2], process.argv[3]);

function importOnce(dataDir: string, exportFile: string): void {
    (async () => {
        const text = fs.readFileSync(exportFile, 'utf8');
        const store = await IngestStore.open(dataDir);
        process.stdout.write('importing\n');
        const answer = await importJson(store, text);
        process.stdout.write(`imported ${answer.import_id}\n`);
        await store.close();
    })().catch((err) => {
        console.error(err);
        process.exit(1);
    });
}
