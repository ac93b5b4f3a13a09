import { strict as assert } from 'node:assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { root } from '../e2e/harness';
import { scratchFolder } from '../support/folders';

// The page's Vue lives in dashboard/; flows/boat.json carries it in its ui-templates' format strings.
// scripts/dashboard.js writes the flow from the files (npm run build) and, with --check, fails when they disagree
// (npm run lint runs it, so CI does).

const dashboard = require(path.join(root, 'scripts', 'dashboard.js')) as { check: (flowFile?: string) => void; formats: () => Record<string, string>; PARTS: Record<string, string> };

describe('the dashboard sources and flows/boat.json never disagree', () => {
    let scratch: { dir: string; remove: () => void };
    beforeEach(() => (scratch = scratchFolder('dashboard-sources')));
    afterEach(() => scratch.remove());

    it('the flow in git holds exactly what dashboard/ holds (npm run lint runs this check)', () => {
        execFileSync(process.execPath, [path.join(root, 'scripts', 'dashboard.js'), '--check'], { cwd: root, stdio: 'pipe' });
    });

    it('a hand-edited format string in the flow fails the check, naming the template and what to do', () => {
        const flow = JSON.parse(fs.readFileSync(path.join(root, 'flows', 'boat.json'), 'utf8'));
        const strip = flow.find((n: { id: string }) => n.id === 'dashboard-status-strip');
        strip.format = strip.format.replace('Shore link', 'Shore  link');
        const edited = path.join(scratch.dir, 'boat.json');
        fs.writeFileSync(edited, JSON.stringify(flow, null, 4) + '\n');
        assert.throws(() => dashboard.check(edited), /dashboard-status-strip \(dashboard\/status-strip\.vue\).*edit the files in dashboard\/, then run npm run build/);
    });

    it('every part is one `export default {...}` with the shared methods written in: the only script a ui-template runs', () => {
        for (const [id, format] of Object.entries(dashboard.formats())) {
            if (!dashboard.PARTS[id].endsWith('.vue')) continue;
            const script = /<script>([\s\S]*)<\/script>/.exec(format)?.[1] ?? '';
            assert.match(script.trim(), /^export default \{/, id);
            assert.doesNotMatch(script, /\bimport\b|mixins:/, id);
            assert.match(script, /async api\(method, path, body\)/, `${id} has the shared api method`);
        }
    });
});
