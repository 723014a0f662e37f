// ESLint (flat config), run by `npm run lint` and by `npm test` (pretest).
//
// src/ is linted with types (typescript-eslint's recommendedTypeChecked): the
// rules that matter most here need them — a promise nobody awaits on a mail
// path loses a message without an error. test/ and bench/ get the untyped
// sets: typed linting of test/ found nothing but `any` from JSON.parse and
// costs another program build.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const unusedVars = {
  argsIgnorePattern: '^_',
  varsIgnorePattern: '^_',
  caughtErrorsIgnorePattern: '^_',
  destructuredArrayIgnorePattern: '^_',
};

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'var/', '.bench/'] },

  js.configs.recommended,
  { rules: { eqeqeq: ['error', 'always'] } },

  // TypeScript: src/, test/ and vitest.config.ts.
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', unusedVars],
    },
  },

  // src/: typed.
  {
    files: ['src/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // In the preset already; named so that a change of preset keeps them.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Off: an async function without await is how this code implements a
      // Promise-returning interface (FileLedger.acceptedRecipients, fastify
      // handlers, an async generator over an array): a throw then becomes a
      // rejection instead of escaping synchronously.
      '@typescript-eslint/require-await': 'off',
      // Logging goes through pino (log/logger.ts).
      'no-console': 'error',
    },
  },
  // The CLI's output is the product.
  {
    files: ['src/cli/**/*.ts'],
    rules: { 'no-console': 'off' },
  },

  // The reviewer console's one browser script (no build step, served as written).
  {
    files: ['src/admin/ui/assets/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'script' },
  },

  // bench/, this file, .dependency-cruiser.cjs: plain Node scripts.
  {
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    languageOptions: { globals: globals.node },
    rules: { 'no-unused-vars': ['error', unusedVars] },
  },
);
