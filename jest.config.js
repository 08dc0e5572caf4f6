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
  // A worker that has grown past this after a test file is replaced before the next one: each file
  // starts servers, PGlite instances and workers, and a long run (the whole suite on one worker
  // process, Node 24) once ended with a worker aborted mid-file.
  workerIdleMemoryLimit: '1536MB',
};
