'use strict';
// Tests run on the TypeScript sources through tsx; the smoke test loads the built package.
// `npx mocha test/some/folder` runs just that folder; with no paths, everything under test/.
const named = process.argv.slice(2).some((arg) => !arg.startsWith('-'));
module.exports = {
    require: ['tsx/cjs'],
    extension: ['ts'],
    recursive: true,
    ...(named ? {} : { spec: ['test/**/*.test.ts'] }),
    timeout: 30000,
    exit: true,
    reporter: 'spec',
};
