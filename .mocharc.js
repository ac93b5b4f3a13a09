'use strict';
// Tests run on the TypeScript sources through tsx; the smoke test loads the built package.
module.exports = {
    require: ['tsx/cjs'],
    spec: ['test/**/*.test.ts'],
    timeout: 30000,
    exit: true,
    reporter: 'spec',
};
