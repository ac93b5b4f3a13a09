// A separate process that exports a boat over and over, so a test can SIGKILL it mid-write.
import { boatLayout } from '../../lib/boat/layout';
import { exportBoatData } from '../../lib/export/collect-export';

const [root, mediaDir] = process.argv.slice(2);
(async () => {
    const layout = boatLayout({ root, mediaDir });
    for (;;) {
        await exportBoatData(layout, 'full');
        process.stdout.write('exported\n');
    }
})().catch((err) => {
    console.error(err);
    process.exit(1);
});
