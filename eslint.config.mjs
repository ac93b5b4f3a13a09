// ESLint over the TypeScript (and the few plain scripts): typescript-eslint's recommended rules, which catch
// bugs, tuned where they only argue with this code base's deliberate style. Formatting is Prettier's job.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import vue from 'eslint-plugin-vue';

export default tseslint.config(
    { ignores: ['dist/', 'node_modules/', '.demo/', '.dist-*/', 'test-artifacts/', 'bench-results/', 'examples/', 'flows/'] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ['**/*.ts'],
        rules: {
            // Node-RED's message objects and its RED API are untyped at their edges; `any` there is the honest type.
            '@typescript-eslint/no-explicit-any': 'off',
            // Node-RED loads CommonJS: `import x = require(...)` and `export =` are how a node module is written.
            '@typescript-eslint/no-require-imports': 'off',
            '@typescript-eslint/no-namespace': 'off',
            // `_name` marks a parameter that must be there (Node-RED's callback shapes) but is not used.
            '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
            // Node-RED node constructors alias `this` as `node` for its callbacks, as its core nodes do.
            '@typescript-eslint/no-this-alias': 'off',
            // Bugs worth catching that the recommended set leaves out.
            eqeqeq: ['error', 'always', { null: 'ignore' }],
            'no-self-compare': 'error',
            'no-unreachable-loop': 'error',
            'prefer-const': 'error',
        },
    },
    {
        files: ['**/*.js', '**/*.mjs'],
        languageOptions: {
            sourceType: 'commonjs',
            globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly', Buffer: 'readonly', setTimeout: 'readonly' },
        },
        rules: {
            '@typescript-eslint/no-require-imports': 'off',
            '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
        },
    },
    { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
    // The Data Management page (dashboard/): Vue components the build puts into the flow's ui-templates; they run in the
    // helm's browser. Layout is Prettier's; the rules that argue with it are off.
    ...vue.configs['flat/recommended'].map((config) => ({ ...config, files: ['dashboard/**/*.vue'] })),
    {
        files: ['dashboard/**/*.vue', 'dashboard/**/*.js'],
        languageOptions: {
            sourceType: 'module',
            globals: {
                window: 'readonly',
                document: 'readonly',
                navigator: 'readonly',
                fetch: 'readonly',
                setInterval: 'readonly',
                clearInterval: 'readonly',
                setTimeout: 'readonly',
                console: 'readonly',
            },
        },
        rules: {
            'vue/max-attributes-per-line': 'off',
            'vue/singleline-html-element-content-newline': 'off',
            'vue/multiline-html-element-content-newline': 'off',
            'vue/html-self-closing': 'off',
            'vue/html-indent': 'off',
            'vue/html-closing-bracket-newline': 'off',
            // Dashboard 2.0 hands every ui-template its `msg`; the parts watch it.
            'vue/require-prop-types': 'off',
            eqeqeq: ['error', 'always', { null: 'ignore' }],
            'prefer-const': 'error',
        },
    },
);
