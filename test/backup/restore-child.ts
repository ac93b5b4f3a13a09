import * as fs from 'fs';
import { restoreBackup, BackupSettings } from '../../lib/backup';
import type { RestoreStep } from '../../lib/backup/restore';

// A restore in a process of its own, for the interrupted-restore test: at the step named it writes the
// marker file and waits there for the SIGKILL. (Mocha loads this file too when given the folder: it then does nothing.)
if (require.main === module) run(JSON.parse(process.argv[2]));

function run({ settings, name, step, detail, marker }: { settings: BackupSettings; name: string; step: RestoreStep; detail?: string; marker: string }): void {
    restoreBackup(settings, name, {
        onStep: async (at, what) => {
            if (at !== step || (detail !== undefined && what !== detail)) return;
            fs.writeFileSync(marker, at);
            await new Promise(() => undefined);
        },
    }).then(
        () => {
            fs.writeFileSync(marker, 'finished');
            process.exit(0);
        },
        (err) => {
            fs.writeFileSync(marker, `failed: ${String(err?.message ?? err)}`);
            process.exit(1);
        },
    );
}
