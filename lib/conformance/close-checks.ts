/**
 * The server checks of a close: DRAIN before BYE where drain was agreed, BYE on
 * every session (docs/PROTOCOL.md §5.6, §10). They run last and wait for the
 * server to close (`--await-close`).
 */
import { type Check, expectThat, Skip } from './report.js';
import { type ServerKitOptions, withConns } from './server-conn.js';
import { T, header, EMPTY } from './wire.js';

/** What two sessions saw of a server's close: DRAIN and BYE on each, in order. */
interface CloseSeen {
  drained: boolean;
  tookDrain: boolean;
  drainBeforeBye: boolean;
  plainDrained: boolean;
}

let closeSeen: Promise<CloseSeen> | undefined;

/** Opens the two sessions, says AWAITING CLOSE, and waits for both BYEs (once per run). */
function watchClose(opts: ServerKitOptions): Promise<CloseSeen> {
  closeSeen ??= withConns(opts, 2, async (rich, plain) => {
    const w = await rich.session(['drain', 'bye-ack']);
    await plain.session();
    const tookDrain = Array.isArray(w.features) && w.features.includes('drain');
    const [richMark, plainMark] = [rich.socket.mark, plain.socket.mark];
    opts.write?.('AWAITING CLOSE\n');
    const ms = opts.awaitCloseMs!;
    let drainAt = -1;
    if (tookDrain) {
      const drain = await rich.socket.next(a => a.env.type === T.DRAIN || a.env.type === T.BYE, ms, 'DRAIN', richMark);
      if (drain.env.type === T.DRAIN) {
        drainAt = rich.socket.received.indexOf(drain);
        await rich.send([header(T.DRAIN), EMPTY]);
      }
    }
    const bye = await rich.socket.next(a => a.env.type === T.BYE, ms, 'BYE on the session with drain', richMark);
    await rich.send([header(T.BYE), EMPTY]);
    await plain.socket.next(a => a.env.type === T.BYE, ms, 'BYE on the session without features', plainMark);
    const plainDrained = plain.between(plainMark, plain.socket.mark, e => e.type === T.DRAIN).length > 0;
    const byeAt = rich.socket.received.indexOf(bye);
    return { drained: drainAt >= 0, tookDrain, drainBeforeBye: drainAt >= 0 && drainAt < byeAt, plainDrained };
  });
  return closeSeen;
}

const needClose = (opts: ServerKitOptions): void => {
  if (opts.awaitCloseMs === undefined) throw new Skip('needs the server to close during the run (--await-close <ms>)');
};

/** The checks of a server's close: they run last, and wait for it. */
export const CLOSE_CHECKS: ReadonlyArray<Check<ServerKitOptions>> = [
  {
    id: 'S-27',
    title: 'a closing server says BYE on every session, with bye-ack or without',
    run: async opts => {
      needClose(opts);
      await watchClose(opts);
    },
  },
  {
    id: 'S-19',
    title: 'a closing server says DRAIN before BYE where drain was agreed, and nowhere else',
    run: async opts => {
      needClose(opts);
      const seen = await watchClose(opts);
      expectThat(!seen.plainDrained, 'DRAIN on a session that did not agree on drain');
      if (!seen.tookDrain) throw new Skip('the server does not take the drain feature');
      expectThat(seen.drainBeforeBye, 'no DRAIN before the BYE');
    },
  },
];

/** Forgets what a previous run saw of a close. */
export function resetCloseWatch(): void {
  closeSeen = undefined;
}
