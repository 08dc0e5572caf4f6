/** Jest runs the TypeScript sources as ESM (oidc-provider 9 is ESM-only). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The compiled copy (npm run build) is not for jest: tests import the sources.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testTimeout: 60000,
  maxWorkers: 2,
  // A worker whose heap has grown past this after a test file is replaced before the next one.
  // Each file starts servers, PGlite instances and hash threads, and a worker's heap grows by about
  // 20 MB a file (its RSS by more). Replacing a worker every ~20 files costs a few seconds.
  // (Workers that CI runs saw aborted with SIGABRT were not out of memory: a server stopped while
  // a hashing thread was still loading bcrypt took its process down; security/hash-pool.ts.)
  workerIdleMemoryLimit: '512MB',
};
