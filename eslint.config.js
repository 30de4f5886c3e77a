// ESLint flat config: the recommended JS and typescript-eslint rules, plus the few type-aware rules the
// style guide asks for (type-only imports, no forgotten or misused promises). Formatting is prettier's job,
// so there are no stylistic rules here.
'use strict';

const js = require('@eslint/js');
const { defineConfig, globalIgnores } = require('eslint/config');
const tseslint = require('typescript-eslint');

// Node's CommonJS globals for the few plain .js files (there is no `globals` package installed).
const nodeGlobals = {
  require: 'readonly',
  module: 'writable',
  exports: 'writable',
  __dirname: 'readonly',
  __filename: 'readonly',
  process: 'readonly',
  console: 'readonly',
  Buffer: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
  setImmediate: 'readonly',
  URL: 'readonly',
};

// The browser globals src/ui/app.js uses.
const browserGlobals = Object.fromEntries(
  [
    'window',
    'document',
    'location',
    'navigator',
    'sessionStorage',
    'fetch',
    'URL',
    'URLSearchParams',
    'AbortController',
    'TextDecoderStream',
    'Intl',
    'getSelection',
    'requestAnimationFrame',
    'setTimeout',
    'clearTimeout',
    'console',
  ].map((name) => [name, 'readonly']),
);

const unusedVars = [
  'error',
  {
    args: 'after-used',
    argsIgnorePattern: '^_',
    varsIgnorePattern: '^_',
    caughtErrorsIgnorePattern: '^_',
    destructuredArrayIgnorePattern: '^_',
    ignoreRestSiblings: true,
  },
];

module.exports = defineConfig([
  globalIgnores([
    'dist/',
    'node_modules/',
    '.cache/',
    '.run/',
    'models/',
    'bin/',
    'deploy/',
    'coverage/',
    'test-artifacts/',
  ]),

  js.configs.recommended,
  tseslint.configs.recommended,

  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        // Type information from the nearest tsconfig.json (src, test and scripts are all in it).
        projectService: true,
        tsconfigRootDir: __dirname,
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': unusedVars,
      // Compiled to CommonJS, a variable or parameter named `exports` (or `module`, `require`) hides
      // the module's own: an exported name used next to it is read off the wrong object at run time
      // (tsx, which runs the tests, does not compile that way, so only the built CLI would fail).
      'no-restricted-syntax': [
        'error',
        {
          selector: [
            'VariableDeclarator > Identifier.id[name=/^(exports|module|require)$/]',
            'VariableDeclarator > ArrayPattern > Identifier[name=/^(exports|module|require)$/]',
            'VariableDeclarator > ObjectPattern > Property > Identifier.value[name=/^(exports|module|require)$/]',
            ':function > Identifier.params[name=/^(exports|module|require)$/]',
            ':function > AssignmentPattern.params > Identifier.left[name=/^(exports|module|require)$/]',
          ].join(', '),
          message: 'do not name a variable or parameter exports, module or require (CommonJS output)',
        },
      ],
    },
  },

  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: nodeGlobals },
    rules: {
      // CommonJS files load modules with require().
      '@typescript-eslint/no-require-imports': 'off',
      'no-unused-vars': 'off',
      '@typescript-eslint/no-unused-vars': unusedVars,
    },
  },

  {
    // The analyst page's script: a plain ES module run by the browser (served as is by src/http/ui.ts).
    files: ['src/ui/**/*.js'],
    languageOptions: { sourceType: 'module', globals: browserGlobals },
  },
]);
