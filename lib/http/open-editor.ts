import { OPEN_EDITOR_PROBLEM } from './editor-rules';

/**
 * Whether this process's Node-RED editor is open (no adminAuth) to the boat's
 * network, as the request guard finds it; /health reads it. An editor that
 * listens on loopback only is not reachable from another device, and what a
 * browser on the helm could send it the editor rules refuse.
 */
let isOpen: () => boolean = () => false;

export function watchOpenEditor(check: () => boolean): void {
    isOpen = check;
}

export function openEditorProblem(): string | null {
    try {
        return isOpen() ? OPEN_EDITOR_PROBLEM : null;
    } catch {
        return null;
    }
}
