import type { NodeAPI } from 'node-red';
import { boatLayout, DEFAULT_BOAT_SETTINGS } from '../../lib/boat/layout';
import { readLicense } from '../../lib/boat/license';
import { BoatConfigDef, BoatConfigNode } from '../shared/boat-config';

/** `${NAME}` anywhere in a value. */
const ENV_REFERENCE = /\$\{[^}]+\}/;

export = function (RED: NodeAPI): void {
    function BoatConfig(this: BoatConfigNode, def: BoatConfigDef): void {
        RED.nodes.createNode(this, def);
        const node = this;
        // `${VAR}` is read as Node-RED reads an env property (its evaluateEnvProperty, which Node-RED 4.1 exports
        // only through evaluateNodeProperty's 'env' type): the config node's flow, then the global environment
        // variables, then the process environment. Node-RED does this itself only for a field that is one whole
        // `${VAR}`, not for `${VAR}/data` or a credential. A value without `${` is taken as it is (the 'env'
        // type would read a bare word as a variable's name).
        const fromEnv = (value: string | undefined): string => {
            const text = value ?? '';
            return ENV_REFERENCE.test(text) ? String(RED.util.evaluateNodeProperty(text, 'env', node, {} as any) ?? '') : text;
        };
        const root = fromEnv(def.root).trim() || DEFAULT_BOAT_SETTINGS.root;
        const layout = boatLayout({
            root,
            mediaDir: fromEnv(def.mediaDir).trim() || DEFAULT_BOAT_SETTINGS.mediaDir,
            backupDir: fromEnv(def.backupDir).trim() || undefined,
        });
        const centralUrl = fromEnv(def.centralUrl).trim().replace(/\/+$/, '');
        this.layout = () => layout;
        this.centralUrl = () => centralUrl;
        this.deviceToken = () => fromEnv(this.credentials?.deviceToken).trim() || undefined;
        this.license = () => readLicense(layout.license);
    }

    RED.nodes.registerType('d3kos-config', BoatConfig as any, {
        credentials: { deviceToken: { type: 'password' } },
    });
};
