'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

// Loaded by .mocharc.js before any test file, so `npm test` says at its start what it runs and what it cannot:
// when PostgreSQL's binaries are on the machine and no D3KOS_TEST_DATABASE_URL is given, a throwaway cluster is
// started (scripts/test-postgres.sh, on a free port) for the ingest tests and removed when mocha ends; whatever
// this machine cannot run (no PostgreSQL, not root for the tmpfs disk-full tests) is named in one line, not left
// to pend unexplained. It runs before the test files load because they read D3KOS_TEST_DATABASE_URL as they load.
// Plain CommonJS: Node 22 loads a .ts file here natively as an ES module (type stripping), where tsx does not reach.

const root = path.resolve(__dirname, '..', '..');
const script = path.join(root, 'scripts', 'test-postgres.sh');
let startedPort = null;

/** The files a run loads touch PostgreSQL: the whole suite, or named paths that hold one of the ingest's store suites. */
function runNeedsPostgres() {
    const named = process.argv.slice(2).filter((arg) => !arg.startsWith('-') && fs.existsSync(arg));
    if (named.length === 0) return true;
    const users = fs
        .readdirSync(path.join(root, 'test', 'ingest'))
        .filter((f) => f.endsWith('.test.ts'))
        .map((f) => path.join(root, 'test', 'ingest', f))
        .filter((f) => /forEachStore\(/.test(fs.readFileSync(f, 'utf8')));
    return named.map((arg) => path.resolve(arg)).some((p) => users.some((file) => file === p || file.startsWith(p + path.sep)));
}

function postgresBinaries() {
    try {
        return fs.readdirSync('/usr/lib/postgresql').some((v) => fs.existsSync(path.join('/usr/lib/postgresql', v, 'bin', 'initdb')));
    } catch {
        return false;
    }
}

function freePortSync() {
    const probe = "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})";
    return execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' }).trim();
}

function startPostgres() {
    const port = process.env.D3KOS_TEST_PG_PORT || freePortSync();
    const printed = execFileSync('bash', [script, 'start'], { env: { ...process.env, D3KOS_TEST_PG_PORT: port }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const url = /D3KOS_TEST_DATABASE_URL=(\S+)/.exec(printed)?.[1];
    if (!url) throw new Error(`scripts/test-postgres.sh printed no URL: ${printed}`);
    startedPort = port;
    process.env.D3KOS_TEST_DATABASE_URL = url;
    process.on('exit', stopPostgres);
    return port;
}

function stopPostgres() {
    if (startedPort === null) return;
    const port = startedPort;
    startedPort = null;
    try {
        execFileSync('bash', [script, 'stop'], { env: { ...process.env, D3KOS_TEST_PG_PORT: port }, stdio: 'ignore' });
    } catch {
        // The cluster's folder is under /tmp; a failed stop leaves nothing the next run trips on (it picks a new port).
    }
}

function announce() {
    const running = [];
    const skipped = [];
    if (process.env.D3KOS_TEST_DATABASE_URL) {
        running.push('the ingest tests on SQLite and on the PostgreSQL in D3KOS_TEST_DATABASE_URL');
    } else if (!runNeedsPostgres()) {
        // No PostgreSQL suite among the named files: nothing to start, nothing skipped.
    } else if (!postgresBinaries()) {
        skipped.push('the PostgreSQL runs of the ingest tests (PostgreSQL is not installed: apt-get install postgresql)');
    } else {
        try {
            const port = startPostgres();
            running.push(`the ingest tests on SQLite and on a throwaway PostgreSQL at 127.0.0.1:${port} (scripts/test-postgres.sh)`);
        } catch (err) {
            const why = (err.stderr || err.message).trim().split('\n')[0];
            skipped.push(`the PostgreSQL runs of the ingest tests (a throwaway cluster would not start: ${why})`);
        }
    }
    if (process.getuid?.() !== 0) skipped.push('the disk-full tests (they mount a small tmpfs, which needs root)');
    const parts = [...(running.length ? [`running ${running.join('; ')}`] : []), ...(skipped.length ? [`skipping ${skipped.join('; ')}`] : [])];
    if (parts.length) console.log(`npm test: ${parts.join('. ')}.`);
}

announce();

/** Mocha's global teardown: the cluster goes as soon as the last test ends (the exit hook is the fallback). */
module.exports.mochaGlobalTeardown = stopPostgres;
