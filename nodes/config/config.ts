import type { NodeAPI } from 'node-red';
import { boatLayout, DEFAULT_BOAT_SETTINGS } from '../../lib/boat/layout';
import { readLicense } from '../../lib/boat/license';
import { BoatConfigDef, BoatConfigNode, resolveEnv } from '../shared/boat-config';

export = function (RED: NodeAPI): void {
    function BoatConfig(this: BoatConfigNode, def: BoatConfigDef): void {
        RED.nodes.createNode(this, def);
        const root = resolveEnv(def.root).trim() || DEFAULT_BOAT_SETTINGS.root;
        const layout = boatLayout({
            root,
            mediaDir: resolveEnv(def.mediaDir).trim() || DEFAULT_BOAT_SETTINGS.mediaDir,
            backupDir: resolveEnv(def.backupDir).trim() || undefined,
        });
        const centralUrl = resolveEnv(def.centralUrl).trim().replace(/\/+$/, '');
        this.layout = () => layout;
        this.centralUrl = () => centralUrl;
        this.deviceToken = () => resolveEnv(this.credentials?.deviceToken).trim() || undefined;
        this.license = () => readLicense(layout.license);
    }

    RED.nodes.registerType('d3kos-config', BoatConfig as any, {
        credentials: { deviceToken: { type: 'password' } },
    });
};
