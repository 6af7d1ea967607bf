/**
 * Jest runs in ESM mode (node --experimental-vm-modules): Nest 12 ships as
 * ESM only, and Jest on Node 20 can load it only that way. ts-jest
 * transpiles (isolatedModules); `npm run typecheck` does the type checking.
 */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.spec.ts', '<rootDir>/lib/**/*.spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  // lib/ imports its own files as `./x.js` (what the ESM build needs); Jest maps them to the sources.
  moduleNameMapper: {
    '^nestjs-zeromq$': '<rootDir>/lib/index.ts',
    '^nestjs-zeromq/prometheus$': '<rootDir>/lib/prometheus/index.ts',
    '^nestjs-zeromq/terminus$': '<rootDir>/lib/terminus.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  // Transpiles lib/ and test/fixtures/ into the disk cache of the TypeScript children (test/helpers/ts-cache.cjs) once.
  globalSetup: '<rootDir>/test/helpers/ts-warm.cjs',
  testTimeout: 20000,
  maxWorkers: 2,
  // A fresh worker for every spec file: zeromq sockets a spec leaves to the garbage collector (Node 24 runs its
  // finalizers later than Node 20) would otherwise pile up across files in one worker until libzmq's 1,023
  // sockets per context are used up (EMFILE, and monitor endpoints reused while still bound).
  workerIdleMemoryLimit: '50MB',
};
