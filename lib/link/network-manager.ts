import { execFile } from 'child_process';
import type { LinkKind } from './choice';

export interface LinkSuggestion {
    kind: LinkKind;
    source: 'networkmanager';
}

/**
 * What `nmcli -t -f GENERAL.METERED dev show` says, one line per device:
 * `GENERAL.METERED:yes (guessed)`, `no`, `unknown`. One metered device
 * makes the link metered (the boat may route over it); only "no" on every
 * device that answered makes it unmetered; otherwise nothing is suggested.
 */
export function parseNmcliMetered(output: string): LinkKind | null {
    const answers = output
        .split('\n')
        .map((line) => /^GENERAL\.METERED:(.*)$/.exec(line.trim())?.[1]?.trim().toLowerCase())
        .filter((v): v is string => v !== undefined && v !== '');
    if (answers.some((a) => a.startsWith('yes'))) return 'metered';
    if (answers.length > 0 && answers.every((a) => a.startsWith('no'))) return 'unmetered';
    return null;
}

const ASK_TIMEOUT_MS = 2000;
const KEPT_MS = 60_000;
let kept: { at: number; value: Promise<LinkSuggestion | null> } | null = null;

/** NetworkManager's view, asked at most once a minute and for two seconds at most; null where it is absent or silent. */
export function networkManagerSuggestion(command = 'nmcli', now = Date.now()): Promise<LinkSuggestion | null> {
    if (kept && now - kept.at < KEPT_MS) return kept.value;
    const value = new Promise<LinkSuggestion | null>((resolve) => {
        execFile(command, ['-t', '-f', 'GENERAL.METERED', 'dev', 'show'], { timeout: ASK_TIMEOUT_MS, maxBuffer: 64 * 1024 }, (err, stdout) => {
            const kind = err ? null : parseNmcliMetered(String(stdout));
            resolve(kind ? { kind, source: 'networkmanager' } : null);
        });
    });
    kept = { at: now, value };
    return value;
}

/** For tests: forget the kept answer. */
export function forgetSuggestion(): void {
    kept = null;
}
