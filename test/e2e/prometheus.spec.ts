/**
 * nestjs-zeromq/prometheus with a real prom-client Registry: after real
 * requests over tcp, the scrape text has the expected series.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { Registry } from 'prom-client';
import { firstValueFrom } from 'rxjs';
import { registerZmqMetrics } from 'nestjs-zeromq/prometheus';
import { Probe, rejectionOf } from '../helpers/async';
import { Harness } from '../helpers/nest';

const probe = new Probe();

@Controller()
class PromController {
  @MessagePattern('sum')
  sum(@Payload() n: number[]) {
    return n.reduce((a, b) => a + b, 0);
  }

  @MessagePattern({ cmd: 'fail' })
  fail() {
    throw new RpcException({ code: 'E_DEMO', message: 'no' });
  }

  @EventPattern('audit')
  audit(@Payload() v: unknown) {
    probe.hit('audit', v);
  }
}

/** The value of the one line of `text` that starts with `series` followed by a space. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('registerZmqMetrics (prom-client)', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  it('scrapes counters, histograms and gauges of a client and a server after real requests', async () => {
    const { server, endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [PromController] });
    const client = await h.connectClient(endpoint);
    const register = new Registry();
    const unregister = registerZmqMetrics({ register, sources: [client, server] });

    for (let i = 0; i < 3; i++) await firstValueFrom(client.send('sum', [i]));
    await rejectionOf(firstValueFrom(client.send({ cmd: 'fail' }, {})));
    client.emit('audit', 1);
    await probe.wait('audit');

    const text = await register.metrics();
    expect(text).toContain('# TYPE nestjs_zeromq_requests_total counter');
    expect(text).toContain('# TYPE nestjs_zeromq_request_duration_seconds histogram');
    expect(text).toContain('# TYPE nestjs_zeromq_peers gauge');
    for (const side of ['client', 'server']) {
      expect(valueOf(text, `nestjs_zeromq_requests_total{pattern="sum",side="${side}",code="OK"}`)).toBe(3);
      expect(valueOf(text, `nestjs_zeromq_requests_started_total{pattern="sum",side="${side}"}`)).toBe(3);
      expect(valueOf(text, `nestjs_zeromq_request_duration_seconds_count{pattern="sum",side="${side}"}`)).toBe(3);
      expect(
        valueOf(text, `nestjs_zeromq_request_duration_seconds_bucket{le="+Inf",pattern="sum",side="${side}"}`),
      ).toBe(3);
      expect(valueOf(text, `nestjs_zeromq_request_duration_seconds_bucket{le="10",pattern="sum",side="${side}"}`)).toBe(
        3,
      );
      expect(valueOf(text, `nestjs_zeromq_request_duration_seconds_sum{pattern="sum",side="${side}"}`)).toBeGreaterThan(
        0,
      );
      expect(
        valueOf(text, `nestjs_zeromq_requests_total{pattern="{\\"cmd\\":\\"fail\\"}",side="${side}",code="E_DEMO"}`),
      ).toBe(1);
      expect(valueOf(text, `nestjs_zeromq_events_total{pattern="audit",side="${side}"}`)).toBe(1);
      expect(valueOf(text, `nestjs_zeromq_peers{side="${side}"}`)).toBe(1);
      expect(valueOf(text, `nestjs_zeromq_in_flight{side="${side}"}`)).toBe(0);
      expect(valueOf(text, `nestjs_zeromq_queued{side="${side}"}`)).toBeGreaterThanOrEqual(0);
      // Counters that counted nothing export no series.
      expect(valueOf(text, `nestjs_zeromq_cancels_total{pattern="sum",side="${side}"}`)).toBeUndefined();
      expect(valueOf(text, `nestjs_zeromq_timeouts_total{pattern="sum",side="${side}"}`)).toBeUndefined();
      expect(valueOf(text, `nestjs_zeromq_dropped_total{side="${side}",reason="lateReply"}`)).toBeUndefined();
    }
    expect(valueOf(text, 'nestjs_zeromq_request_first_chunk_seconds_count{pattern="sum",side="client"}')).toBe(3);
    expect(text).not.toContain('nestjs_zeromq_request_first_chunk_seconds_count{pattern="sum",side="server"}');

    // Read at scrape time: a further request shows in the next scrape.
    await firstValueFrom(client.send('sum', [9]));
    const again = await register.metrics();
    expect(valueOf(again, 'nestjs_zeromq_requests_total{pattern="sum",side="client",code="OK"}')).toBe(4);

    unregister();
    expect(await register.metrics()).not.toContain('nestjs_zeromq_');
  });

  it('two clients of one side add up; getMetricsAsJSON works too', async () => {
    const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [PromController] });
    const a = await h.connectClient(endpoint);
    const b = await h.connectClient(endpoint);
    const register = new Registry();
    registerZmqMetrics({ register, sources: [a, b], prefix: 'svc_' });
    await firstValueFrom(a.send('sum', [1]));
    await firstValueFrom(b.send('sum', [1]));
    expect(valueOf(await register.metrics(), 'svc_requests_total{pattern="sum",side="client",code="OK"}')).toBe(2);
    const json = await register.getMetricsAsJSON();
    expect(json.map(m => m.name)).toContain('svc_request_duration_seconds');
  });
});
