#!/usr/bin/env node
import * as fs from 'fs';
import * as readline from 'readline';
import { boatLayout, DEFAULT_BOAT_SETTINGS } from '../lib/boat/layout';
import { recoverFromCentral } from '../lib/recover/recover';
import { errorMessage } from '../lib/errors';

/**
 * `d3kos-recover`: rebuilds a boat on a fresh SD card from its newest
 * encrypted copy on the central side, for an installer at the boat with a
 * laptop (run on the boat, or with --root pointing at the card's data root).
 *
 * The device token and the recovery key are never taken as arguments (they
 * would stay in the shell's history and in `ps`): from a file
 * (--device-token-file, --recovery-key-file), the environment
 * (D3KOS_DEVICE_TOKEN, D3KOS_RECOVERY_KEY), or typed at the prompt.
 */
const USAGE = `usage: d3kos-recover --central <url> --installation <id> [options]

  --central <url>              the fleet's central API, e.g. https://central.example.org
  --installation <id>          the boat's installation id (16 hexadecimal characters)
  --root <dir>                 the boat's data root (default ${DEFAULT_BOAT_SETTINGS.root})
  --backup-dir <dir>           where the downloaded copy is kept (default <root>/backups)
  --flows-file <file|none>     Node-RED's flows file (default /home/d3kos/.node-red/flows.json)
  --signalk-settings <file|none>
  --signalk-plugins <dir|none>
  --name <backup name>         a named copy instead of the newest
  --device-token-file <file>   or D3KOS_DEVICE_TOKEN, or typed at the prompt
  --recovery-key-file <file>   or D3KOS_RECOVERY_KEY, or typed at the prompt (never stored)
  --accept-unauthenticated     restore a copy that carries no authenticator (made before d3kOS
                               checked who made a backup): only for a copy you know you made
`;

function parseArgs(argv: string[]): Record<string, string> {
    const args: Record<string, string> = {};
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '-h' || arg === '--help') args.help = '1';
        else if (arg === '--accept-unauthenticated') args['accept-unauthenticated'] = '1';
        else if (arg.startsWith('--')) {
            const value = argv[i + 1];
            if (value === undefined || value.startsWith('--')) throw new Error(`${arg} needs a value`);
            args[arg.slice(2)] = value;
            i++;
        } else throw new Error(`unexpected argument ${arg}`);
    }
    return args;
}

async function ask(question: string): Promise<string> {
    if (!process.stdin.isTTY) throw new Error(`${question.replace(/: $/, '')} is needed: give it in a file or the environment`);
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    try {
        return await new Promise((resolve) => rl.question(question, resolve));
    } finally {
        rl.close();
    }
}

async function secret(args: Record<string, string>, fileArg: string, envName: string, prompt: string): Promise<string> {
    if (args[fileArg])
        return (
            fs
                .readFileSync(args[fileArg], 'utf8')
                .split(/\r?\n/)
                .find((l) => l.trim() !== '' && !l.startsWith('#'))
                ?.trim() ?? ''
        );
    const fromEnv = process.env[envName];
    if (fromEnv) return fromEnv.trim();
    return (await ask(prompt)).trim();
}

const pick = (value: string | undefined): string | null | undefined => (value === undefined ? undefined : value.toLowerCase() === 'none' ? null : value);

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2));
    if (args.help || !args.central || !args.installation) {
        process.stderr.write(USAGE);
        return args.help ? 0 : 2;
    }
    const root = args.root ?? DEFAULT_BOAT_SETTINGS.root;
    const layout = boatLayout({ root, backupDir: args['backup-dir'] });
    const deviceToken = await secret(args, 'device-token-file', 'D3KOS_DEVICE_TOKEN', 'device token: ');
    const recoveryKey = await secret(args, 'recovery-key-file', 'D3KOS_RECOVERY_KEY', 'recovery key (AGE-SECRET-KEY-1…): ');
    process.stderr.write(`Downloading the newest copy of ${args.installation} from ${new URL(args.central).origin}…\n`);
    const report = await recoverFromCentral({
        settings: {
            layout,
            flowsFile: pick(args['flows-file']),
            signalkSettings: pick(args['signalk-settings']),
            signalkPluginConfig: pick(args['signalk-plugins']),
            requireMountedDrive: false,
        },
        centralUrl: args.central,
        installationId: args.installation,
        deviceToken,
        recoveryKey,
        name: args.name,
        acceptUnauthenticated: args['accept-unauthenticated'] === '1',
    });
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    process.stderr.write(`${report.message}\n`);
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err) => {
        process.stderr.write(`d3kos-recover: ${errorMessage(err)}\n`);
        process.exit(1);
    },
);
