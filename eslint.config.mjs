// `npm run lint`: typescript-eslint's recommended rules for src/ (bench/, scripts/ and test/ are
// plain Node scripts checked by their own runs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'build-cuda/', 'node_modules/', '.venv/', '.lanes/'] },
  {
    files: ['src/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    rules: {
      // Lazy require() is deliberate: `--help` answers without loading libtorch, sharp loads on first use.
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
);
