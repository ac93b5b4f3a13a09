import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** A fresh folder under the OS temp dir, removed by the returned cleanup. */
export function scratchFolder(label: string): { dir: string; remove: () => void } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `d3kos-${label}-`));
    return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function writeJson(file: string, value: unknown): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}
