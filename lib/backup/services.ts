/**
 * Which boat services hold restored files open or cached, so must be
 * restarted to see them. Derived from the files a restore actually changed.
 */
const RESTARTS: Array<[test: (p: string) => boolean, service: string]> = [
    [(p) => p.startsWith('data/boatlog/'), 'boatlog'],
    [(p) => p.startsWith('data/marine-vision/'), 'marine-vision'],
    [(p) => p.startsWith('data/self-healing/'), 'self-healing'],
    [(p) => p.startsWith('data/telemetry/'), 'telemetry'],
    [(p) => p === 'config/license.json', 'license'],
    [(p) => p.startsWith('config/') || p.startsWith('state/') || p.startsWith('services/dashboard/'), 'dashboard'],
    [(p) => p.startsWith('signalk/'), 'signalk'],
    [(p) => p.startsWith('node-red/'), 'node-red'],
];

export function restartsFor(changedPaths: string[]): string[] {
    const services = new Set<string>();
    for (const p of changedPaths) for (const [test, service] of RESTARTS) if (test(p)) services.add(service);
    return RESTARTS.map(([, service]) => service).filter((s, i, all) => services.has(s) && all.indexOf(s) === i);
}
