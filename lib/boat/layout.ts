import * as path from 'path';

/** Where a boat keeps things. Defaults follow a real d3kOS install; every path can be overridden. */
export interface BoatSettings {
    root: string;
    mediaDir: string;
    backupDir: string;
}

export const DEFAULT_BOAT_SETTINGS: BoatSettings = {
    root: '/opt/d3kos',
    mediaDir: '/home/d3kos/camera-recordings',
    backupDir: '/opt/d3kos/backups',
};

export interface BoatLayout extends BoatSettings {
    license: string;
    preferences: string;
    cloudCredentials: string;
    apiKeysEnv: string;
    boatlogDb: string;
    capturesDb: string;
    benchmarkResults: string[];
    qrCodes: string;
    issuesDb: string;
    alertsJson: string;
    onboarding: string;
    onboardingResetCount: string;
    vesselEnv: string;
    telemetryDb: string;
    manualsDir: string;
    exportsDir: string;
    exportFilesDir: string;
    queueFile: string;
    historyFile: string;
    failedExportsDir: string;
    watermarksFile: string;
}

export function boatLayout(settings: Partial<BoatSettings> = {}): BoatLayout {
    const root = settings.root || DEFAULT_BOAT_SETTINGS.root;
    const at = (...parts: string[]) => path.join(root, ...parts);
    const exportsDir = at('data', 'exports');
    return {
        root,
        mediaDir: settings.mediaDir || DEFAULT_BOAT_SETTINGS.mediaDir,
        backupDir: settings.backupDir || at('backups'),
        license: at('config', 'license.json'),
        preferences: at('config', 'user-preferences.json'),
        cloudCredentials: at('config', 'cloud-credentials.json'),
        apiKeysEnv: at('config', 'api-keys.env'),
        boatlogDb: at('data', 'boatlog', 'boatlog.db'),
        capturesDb: at('data', 'marine-vision', 'captures.db'),
        benchmarkResults: [at('config', 'benchmark-results.json'), at('data', 'engine-benchmark.json')],
        qrCodes: at('data', 'qr-codes.json'),
        issuesDb: at('data', 'self-healing', 'issues.db'),
        alertsJson: at('data', 'alerts.json'),
        onboarding: at('config', 'onboarding.json'),
        onboardingResetCount: at('state', 'onboarding-reset-count.json'),
        vesselEnv: at('services', 'dashboard', 'config', 'vessel.env'),
        telemetryDb: at('data', 'telemetry', 'telemetry.db'),
        manualsDir: at('data', 'manuals'),
        exportsDir,
        exportFilesDir: path.join(exportsDir, 'exports'),
        queueFile: path.join(exportsDir, 'export_queue.json'),
        historyFile: path.join(exportsDir, 'export_history.json'),
        failedExportsDir: path.join(exportsDir, 'failed_exports'),
        watermarksFile: path.join(exportsDir, 'watermarks.json'),
    };
}
