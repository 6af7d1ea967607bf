import type { ReadPacket, WritePacket } from '@nestjs/microservices';
import type { ClientTrace } from '../common/tracing.js';
import { TracedCall } from '../common/tracing.js';
import type { ClientEngine } from '../protocol/client/client-engine.js';
import type { Route } from '../protocol/client/client-deps.js';
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
): () => void {
  const user = (packet as { metadata?: Metadata }).metadata ?? undefined;
  const metadata = (peerId: string) => encodeMetadata(trace.metadata(user, peerId));
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
  );
  return () => {
    trace.call.end('cancelled');
    cancel();
  };
}
