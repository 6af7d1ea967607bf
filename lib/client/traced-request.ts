import type { ReadPacket, WritePacket } from '@nestjs/microservices';
import type { ClientTrace } from '../common/tracing.js';
import { TracedCall } from '../common/tracing.js';
import type { ClientEngine } from '../protocol/client/client-engine.js';
import type { Route } from '../protocol/client/client-deps.js';
import type { CallPolicy } from '../protocol/client/retries.js';
import { encodeMetadata, Metadata } from '../protocol/frames.js';

/**
 * A request under a client span: its REQUEST carries the span's context
 * (`traceparent` / `tracestate` beside the packet's own metadata), the span
 * gets the id of the server it went to, and ends with the call: `ok`, `error`
 * (with the code), `timeout`, or `cancelled` when unsubscribed first.
 */
export function tracedRequest(
  engine: ClientEngine,
  trace: ClientTrace,
  pattern: string,
  packet: ReadPacket,
  callback: (packet: WritePacket) => void,
  route: Route,
  policy?: CallPolicy,
): () => void {
  const user = (packet as { metadata?: Metadata }).metadata ?? undefined;
  const metadata = (peerId: string) => {
    trace.peer(peerId, engine.links.find(link => link.welcome?.id === peerId)?.endpoint);
    return encodeMetadata(trace.metadata(user));
  };
  const cancel = engine.request(
    pattern,
    packet.data,
    metadata,
    reply => {
      if (reply.isDisposed) {
        if (reply.err === undefined || reply.err === null) trace.call.end('ok');
        else trace.call.end(TracedCall.outcomeOf(reply.err), reply.err);
      }
      callback(reply);
    },
    route,
    policy,
  );
  return () => {
    trace.call.end('cancelled');
    cancel();
  };
}

/**
 * An event under a producer span: its EVENT(s) carry the span's context,
 * the span names the server(s) it went to and ends at once (`ok`, or `error`
 * when it could not go out, e.g. NO_PEER, which is rethrown).
 */
export function tracedEmit(trace: ClientTrace, packet: ReadPacket, emit: (metadata: Buffer) => string[]): string[] {
  const user = (packet as { metadata?: Metadata }).metadata ?? undefined;
  let ids: string[];
  try {
    ids = emit(encodeMetadata(trace.metadata(user)));
  } catch (err) {
    trace.call.end('error', err);
    throw err;
  }
  trace.peer(ids.join(','));
  trace.call.end('ok');
  return ids;
}
