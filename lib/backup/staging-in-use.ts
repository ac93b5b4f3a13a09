/**
 * Plaintext staging folders of backups and restores under way in this
 * process. The cleanup at a backup node's start (interrupted.ts) leaves
 * them alone: another backup node of this Node-RED, not redeployed, may be
 * making a backup into its own folder at that moment.
 */
export const stagingInUse = new Set<string>();
