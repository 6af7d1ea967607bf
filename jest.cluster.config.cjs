/**
 * The simulated-cluster suite (`npm run test:cluster`): test/cluster/*.cluster.ts,
 * which the default config's `*.spec.ts` pattern leaves out — they need root
 * (network namespaces) and dnsmasq, and take tens of seconds. One file at a
 * time: the scenarios measure throughput and must not share the CPU.
 */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  testMatch: ['<rootDir>/test/cluster/**/*.cluster.ts'],
  testTimeout: 120000,
  maxWorkers: 1,
  // Each scenario's name and time, also when several files run.
  verbose: true,
};
