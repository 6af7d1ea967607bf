/**
 * A process that used the transport and closed it exits on its own: no
 * socket, receive loop, timer or other handle of the library outlives close().
 */
import { runTsChild } from '../helpers/child';
import { TRANSPORTS } from '../helpers/transports';

describe('process exit', () => {
  test.concurrent.each(TRANSPORTS)(
    'a child that serves and calls over %s, then closes both, exits by itself with code 0',
    async kind => {
      const result = await runTsChild('test/fixtures/roundtrip-exit.ts', [kind]);
      const detail = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
      expect({ code: result.code, signal: result.signal, detail }).toEqual({ code: 0, signal: null, detail });
      const line = result.stdout.split('\n').find(l => l.startsWith('RESULT '));
      expect(line).toBeDefined();
      expect(JSON.parse(line!.slice('RESULT '.length))).toEqual({ kind, sum: 6, stream: [0, 1, 2, 3] });
    },
    60_000,
  );
});
