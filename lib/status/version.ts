import * as fs from 'fs';
import * as path from 'path';

let known: string | null | undefined;

/**
 * This package's version, from its package.json: the nearest one above this
 * file whose name is ours (lib/status in the sources, dist/lib/status when built).
 */
export function packageVersion(): string | null {
    if (known !== undefined) return known;
    known = null;
    for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
        try {
            const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
            if (manifest.name === '@d3kos/node-red-data') {
                known = typeof manifest.version === 'string' ? manifest.version : null;
                break;
            }
        } catch {
            // No package.json here: look one folder up.
        }
    }
    return known ?? null;
}
