'use strict';
// Tests run on the TypeScript sources through tsx; the smoke test loads the built package.
// `npx mocha test/some/folder` runs just that folder; with no paths, everything under test/.
// test/support/what-runs.js starts a throwaway PostgreSQL when the run needs one and says what is skipped.
const path = require('path');
const named = process.argv.slice(2).some((arg) => !arg.startsWith('-'));
// Node 22 strips types itself and would load a .ts test file as an ES module, past tsx, where `import x = require()`
// is refused: turned off there, for mocha and for the .ts children tests spawn, so every file loads through tsx.
const stripsTypes = process.allowedNodeEnvironmentFlags.has('--experimental-strip-types');
if (stripsTypes && !/--no-experimental-strip-types/.test(process.env.NODE_OPTIONS || '')) {
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS || ''} --no-experimental-strip-types`.trim();
}
module.exports = {
    require: ['tsx/cjs', path.join(__dirname, 'test', 'support', 'what-runs.js')],
    extension: ['ts'],
    recursive: true,
    ...(named ? {} : { spec: ['test/**/*.test.ts'] }),
    ...(stripsTypes ? { 'node-option': ['no-experimental-strip-types'] } : {}),
    timeout: 30000,
    exit: true,
    reporter: 'spec',
};
