import type { Node, NodeDef } from 'node-red';
import type { BoatLayout } from '../../lib/boat/layout';
import type { License } from '../../lib/boat/license';

export interface BoatConfigDef extends NodeDef {
    root: string;
    mediaDir: string;
    backupDir: string;
    centralUrl: string;
}

export interface BoatConfigCredentials {
    deviceToken?: string;
}

/** What the other nodes ask of the boat's configuration. */
export interface BoatConfigNode extends Node<BoatConfigCredentials> {
    layout(): BoatLayout;
    centralUrl(): string;
    deviceToken(): string | undefined;
    /** Read fresh on every call, so a tier change takes effect without a redeploy. */
    license(): Promise<License>;
}

/** `${VAR}` in a field is read from the environment (Node-RED does this for plain fields; credentials need it here). */
export function resolveEnv(value: string | undefined): string {
    if (!value) return '';
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => process.env[name] ?? '');
}
