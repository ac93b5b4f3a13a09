/**
 * /health's problems as the owner reads them at the helm: how bad, a headline
 * in plain words, and the one thing to do. The problem strings stay as they
 * are (scripts read them); a notice is derived from each by its opening words.
 */
export interface Notice {
    severity: 'warning' | 'critical';
    headline: string;
    action: string;
}

interface Rule {
    match: RegExp;
    notice: (found: RegExpExecArray) => Notice;
}

const critical = (headline: string, action: string): Notice => ({ severity: 'critical', headline, action });
const warning = (headline: string, action: string): Notice => ({ severity: 'warning', headline, action });

const RULES: Rule[] = [
    {
        match: /^the Node-RED editor has no password/,
        notice: () =>
            critical(
                'The Node-RED editor has no password',
                'Set adminAuth in settings.js: run "node-red admin hash-pw" for a password hash, put adminAuth: { type: "credentials", users: [{ username: "admin", password: "<the hash>", permissions: "*" }] } in settings.js, then restart Node-RED.',
            ),
    },
    {
        match: /^the newest backup failed its restore drill: (.*)/,
        notice: (m) => critical('The newest backup does not restore', `Make a new backup now and check it with "Prove restorable" (${m[1]}).`),
    },
    { match: /^no backup has been proven restorable for 14 days/, notice: () => warning('No backup proven restorable for 14 days', 'Tap "Prove restorable" under Backup.') },
    {
        match: /^an interrupted restore was completed from its staging/,
        notice: () => warning('An interrupted restore was finished', 'Check that the boat’s settings and logs look as expected; restart the helm computer.'),
    },
    {
        match: /^an interrupted restore was rolled back from the safety backup/,
        notice: () => warning('An interrupted restore was undone', 'The boat is as it was before the restore; start the restore again if it is still wanted.'),
    },
    { match: /^license\.json was not found/, notice: () => critical('This boat has no license', 'Put license.json back in the config folder, or ask your d3kOS dealer for it.') },
    {
        match: /^license\.json .*is not valid JSON/,
        notice: () => critical('This boat’s license cannot be read', 'Check license.json: it is not valid JSON. Restore it from a backup or ask your d3kOS dealer.'),
    },
    { match: /^license\.json .*does not hold a license/, notice: () => critical('This boat’s license cannot be read', 'Check license.json: it does not hold a license. Restore it from a backup.') },
    { match: /^license\.json has tier/, notice: () => critical('This boat’s license has no valid tier', 'Check license.json: its tier must be 0, 1, 2 or 3.') },
    {
        match: /^license\.json has installation_id/,
        notice: () => critical('This boat’s license has no valid installation id', 'Check license.json: installation_id must be 16 hexadecimal characters.'),
    },
    { match: /^license\.json/, notice: () => critical('This boat’s license cannot be read', 'Check license.json and the disk it is on.') },
    { match: /^the data root/, notice: () => critical('The boat’s data folder does not answer', 'Check the data disk is plugged in and mounted; restart the helm computer.') },
    { match: /^the disk holding (.*) is full/, notice: (m) => critical('The data disk is full', `Free space on the disk holding ${m[1]}: clean up camera recordings or old exports.`) },
    {
        match: /cannot be written \(the disk is read-only\)/,
        notice: () => critical('The data disk is read-only', 'Restart the helm computer; if it stays read-only, the SD card or disk needs replacing.'),
    },
    { match: /^the disk holding .*has not answered/, notice: () => critical('A disk does not answer', 'Check the disk is plugged in; restart the helm computer.') },
    { match: /^the upload queue file was found damaged/, notice: () => warning('The upload queue was repaired', 'Nothing to do: the exports were queued again from their files.') },
    {
        match: /export file\(s\) .* are in no queue and cannot be trusted/,
        notice: () => warning('Export files of unknown origin were found', 'Look at the upload queue status; delete the files named there if you did not put them there.'),
    },
    { match: /has been running for .* longer than its/, notice: () => warning('Something is taking far too long', 'Wait a few minutes; if it stays, restart Node-RED.') },
    { match: /has not finished for .* \(a hung drive or mount\?\)/, notice: () => warning('A file on the boat does not answer', 'Check the disks are plugged in; restart the helm computer.') },
];

/** The notice for one problem; a problem no rule knows is shown as it is, as a warning. */
export function noticeFor(problem: string): Notice {
    for (const rule of RULES) {
        const found = rule.match.exec(problem);
        if (found) return rule.notice(found);
    }
    return warning('d3kOS needs attention', capitalised(problem));
}

/** Notices for all of /health's problems, critical first, each headline once. */
export function noticesFor(problems: string[]): Notice[] {
    const seen = new Set<string>();
    const out: Notice[] = [];
    for (const notice of problems.map(noticeFor)) {
        const key = `${notice.headline}\n${notice.action}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(notice);
    }
    return out.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1));
}

function capitalised(text: string): string {
    return text.charAt(0).toUpperCase() + text.slice(1);
}
