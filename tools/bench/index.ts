import * as fs from 'fs';
import * as path from 'path';
import { BenchFigure, BenchPart, formatFigure } from './figures';

/** Every benchmark part, by the name `npm run bench -- <name>` selects it with. */
const PARTS: Record<string, string> = {
    export: './export',
    'export-against': './export-against',
    sync: './sync',
    backup: './backup',
    media: './media',
    dashboard: './dashboard',
    ingest: './ingest',
    hostile: './hostile',
};

async function main(): Promise<void> {
    const wanted = process.argv.slice(2);
    const names = wanted.length > 0 ? wanted : Object.keys(PARTS);
    const results: Record<string, BenchFigure[]> = {};
    let missed = 0;
    for (const name of names) {
        const modulePath = PARTS[name];
        if (!modulePath) throw new Error(`no benchmark part named "${name}"; parts: ${Object.keys(PARTS).join(', ')}`);
        if (!fs.existsSync(path.join(__dirname, `${modulePath}.js`))) {
            console.log(`\n== ${name}: not built yet, skipped`);
            continue;
        }
        console.log(`\n== ${name}`);
        const run = (require(modulePath) as { run: BenchPart }).run;
        const figures = await run((line) => console.log(`   ${line}`));
        results[name] = figures;
        for (const figure of figures) {
            console.log(formatFigure(figure));
            if (figure.pass === false) missed++;
        }
    }
    const outDir = path.resolve(__dirname, '../../../bench-results');
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(results, null, 2));
    console.log(`\n${missed === 0 ? 'every target met' : `${missed} target(s) missed`}; figures saved in bench-results/`);
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
