/**
 * An error message as it may leave the boat over HTTP: an absolute path in it
 * (the backup folder, a database file) keeps only its last part, so an answer
 * does not map the boat's disk for whoever asked. The boat flow's error
 * answers do the same in JSONata (the change nodes before each http response).
 */
const ABSOLUTE_PATH = /(^|[\s"'(])\/(?:[^/\s"'()]+\/)+([^/\s"'()]*)/g;

export function publicMessage(text: string): string {
    return text.replace(ABSOLUTE_PATH, '$1$2');
}
