import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import { scratchFolder } from '../support/folders';
import { queryRows } from '../support/sqlite';
import { buildDemoBoat, DemoBoat, DemoBoatOptions } from '../../tools/demo-boat';
import type { BackupSettings } from '../../lib/backup';
import { currentAuthenticator, manifestMac, parseRing } from '../../lib/crypto/authenticator';
import { keyFiles } from '../../lib/crypto/keys';

export interface BackupTestBoat {
    scratch: ReturnType<typeof scratchFolder>;
    boat: DemoBoat;
    settings: BackupSettings;
    /** Node-RED's flows file and Signal K's files, kept outside the data root as on a boat. */
    flowsFile: string;
    signalkSettings: string;
    signalkPluginConfig: string;
}

/** A small demo boat with a Node-RED flows file and Signal K settings beside it, and backup settings for it. */
export async function backupTestBoat(label: string, options: Partial<DemoBoatOptions> = {}): Promise<BackupTestBoat> {
    const scratch = scratchFolder(label);
    const boat = await buildDemoBoat({ root: path.join(scratch.dir, 'd3kos'), boatlogRows: 40, telemetryRows: 300, ...options });
    const home = path.join(scratch.dir, 'home');
    const flowsFile = path.join(home, '.node-red', 'flows.json');
    const signalkSettings = path.join(home, '.signalk', 'settings.json');
    const signalkPluginConfig = path.join(home, '.signalk', 'plugin-config-data');
    fs.mkdirSync(path.dirname(flowsFile), { recursive: true });
    fs.mkdirSync(signalkPluginConfig, { recursive: true });
    fs.writeFileSync(
        flowsFile,
        JSON.stringify(
            [
                { id: 'tab1', type: 'tab', label: 'Helm' },
                { id: 'n1', type: 'inject', z: 'tab1' },
            ],
            null,
            4,
        ),
    );
    fs.writeFileSync(signalkSettings, JSON.stringify({ interfaces: {}, pipedProviders: [{ id: 'nmea2000', enabled: true }] }, null, 2));
    fs.writeFileSync(path.join(signalkPluginConfig, 'anchoralarm.json'), JSON.stringify({ enabled: true, configuration: { radius: 40 } }));
    const settings: BackupSettings = { layout: boat.layout, flowsFile, signalkSettings, signalkPluginConfig, requireMountedDrive: false };
    // The key its first backup would make (authenticator.ts), so a hand-made archive can be signed as the boat's own.
    await currentAuthenticator(boat.root);
    return { scratch, boat, settings, flowsFile, signalkSettings, signalkPluginConfig };
}

/** Every plain file under `dir` (relative path → sha256), with links and other entries named by kind. */
export function treeDigest(dir: string, skip: (relative: string) => boolean = () => false): Map<string, string> {
    const digest = new Map<string, string>();
    const walk = (at: string) => {
        if (!fs.existsSync(at)) return;
        for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
            const full = path.join(at, entry.name);
            const relative = path.relative(dir, full);
            if (skip(relative)) continue;
            if (entry.isDirectory()) walk(full);
            else if (entry.isFile()) digest.set(relative, crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex'));
            else digest.set(relative, entry.isSymbolicLink() ? `symlink → ${fs.readlinkSync(full)}` : 'special');
        }
    };
    walk(dir);
    return digest;
}

/** The boat's databases, found by their SQLite header, relative to the data root. */
export function databasesOf(root: string): string[] {
    return [...treeDigest(root).keys()].filter((relative) => {
        const head = Buffer.alloc(16);
        const fd = fs.openSync(path.join(root, relative), 'r');
        try {
            fs.readSync(fd, head, 0, 16, 0);
        } finally {
            fs.closeSync(fd);
        }
        return head.toString('latin1') === 'SQLite format 3\0';
    });
}

/** Every row of every table, in rowid order: what a database holds, whatever its bytes on disk. */
export async function databaseContents(file: string): Promise<Record<string, unknown[]>> {
    const tables = await queryRows<{ name: string }>(file, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    const contents: Record<string, unknown[]> = {};
    for (const { name } of tables) contents[name] = await queryRows(file, `SELECT * FROM "${name}" ORDER BY rowid`);
    return contents;
}

export async function integrityOf(file: string): Promise<string> {
    const rows = await queryRows<{ integrity_check: string }>(file, 'PRAGMA integrity_check');
    return rows.map((r) => r.integrity_check).join('; ');
}

/** Writes the `sha256sum` sidecar for an archive, as a backup of ours has (so only its contents are on trial). */
export function sealArchive(archive: string): void {
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(archive)).digest('hex');
    fs.writeFileSync(`${archive}.sha256`, `${sha256}  ${path.basename(archive)}\n`);
}

export interface CraftedFile {
    path: string;
    content: string | Buffer;
    /** The mode the manifest claims, e.g. "0755"; default "0644". */
    mode?: string;
}

/**
 * An archive made by hand, as anyone with a USB stick could: the files
 * given, a manifest listing each with its true size and sha256, packed by
 * GNU tar and sealed with a matching checksum file. Nothing about it is
 * damaged; only its contents are on trial.
 */
export function craftedArchive(t: BackupTestBoat, files: CraftedFile[], name = 'd3kos_backup_20260101_000000.tar.gz', options: { authenticated?: boolean } = {}): string {
    const work = fs.mkdtempSync(path.join(t.scratch.dir, 'crafted-'));
    const listed = files.map((f) => {
        const bytes = Buffer.from(f.content);
        fs.mkdirSync(path.join(work, path.dirname(f.path)), { recursive: true });
        fs.writeFileSync(path.join(work, f.path), bytes);
        return { path: f.path, size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), mode: f.mode ?? '0644', kind: 'file' };
    });
    const manifest = { format_version: '1.0', name: name.replace(/\.tar\.gz$/, ''), timestamp: '2026-01-01T00:00:00.000Z', installation_id: 'feedfacefeedface', tier: 3, files: listed };
    fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify(manifest, null, 2));
    const signed = options.authenticated === false ? [] : [authenticateAsTheBoat(t, work)];
    const archive = path.join(t.boat.backupDir, name);
    fs.mkdirSync(t.boat.backupDir, { recursive: true });
    execFileSync('tar', ['-czf', archive, '-C', work, 'manifest.json', ...signed, ...files.map((f) => f.path)]);
    sealArchive(archive);
    fs.rmSync(work, { recursive: true, force: true });
    return name;
}

/**
 * Writes `manifest.auth` for `<work>/manifest.json` with the boat's own
 * key, as only the boat could: a test of what a restore lets a backup
 * write, beyond who made it. Answers the entry's name.
 */
export function authenticateAsTheBoat(t: BackupTestBoat, work: string): string {
    const key = parseRing(fs.readFileSync(keyFiles(t.boat.root).authenticators, 'utf8')).pop()!;
    const mac = manifestMac(key, fs.readFileSync(path.join(work, 'manifest.json')));
    fs.writeFileSync(path.join(work, 'manifest.auth'), JSON.stringify({ format: 'd3kos-backup-auth-1', key_id: key.id, hmac_sha256: mac.toString('hex') }));
    return 'manifest.auth';
}

/** The token fields of the demo boat's config files: the Signal K token and the weather API token. */
export function boatTokens(t: BackupTestBoat): { signalk: string; weather: string } {
    const signalk = /^SIGNALK_TOKEN=(.*)$/m.exec(fs.readFileSync(t.boat.layout.vesselEnv, 'utf8'))![1];
    const weather = JSON.parse(fs.readFileSync(t.boat.layout.preferences, 'utf8')).integrations.weather.api_token;
    assert.ok(signalk.length >= 8 && weather.length >= 8);
    return { signalk, weather };
}
