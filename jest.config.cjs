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
  moduleNameMapper: { '^nestjs-zeromq$': '<rootDir>/lib/index.ts' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  testTimeout: 20000,
  maxWorkers: 2,
};
