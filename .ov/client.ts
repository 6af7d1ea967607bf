import { ClientZmq } from '/work/main/lib/index';
import { firstValueFrom } from 'rxjs';
async function main() {
  const rate = Number(process.argv[2]); const seconds = Number(process.argv[3] ?? 5);
  const client = new ClientZmq({ connect: process.env.CONNECT ?? 'tcp://127.0.0.1:5900', requestTimeout: 2000 });
  await client.connect();
  for (let i = 0; i < 2000; i++) await firstValueFrom(client.send('work', i)); // warm
  let ok = 0, late = 0; const codes: Record<string, number> = {}; const lat: number[] = []; const failMs: number[] = [];
  const start = performance.now(); let sent = 0; const total = rate * seconds;
  await new Promise<void>(resolve => {
    let done = 0;
    const tick = () => {
      const elapsed = (performance.now() - start) / 1000;
      const due = Math.min(total, Math.floor(elapsed * rate));
      while (sent < due) {
        const t0 = performance.now(); sent++;
        firstValueFrom(client.send('work', sent)).then(() => { const d = performance.now() - t0; if (d <= 2000) { ok++; lat.push(d); } else late++; },
          (e: any) => { codes[e.code ?? 'x'] = (codes[e.code ?? 'x'] ?? 0) + 1; failMs.push(performance.now() - t0); })
          .finally(() => { if (++done === total) resolve(); });
      }
      if (sent < total) setImmediate(tick);
    };
    tick();
  });
  lat.sort((a, b) => a - b); failMs.sort((a, b) => a - b);
  const q = (a: number[], p: number) => a.length ? a[Math.min(a.length - 1, Math.floor(a.length * p))]!.toFixed(1) : '-';
  console.log(JSON.stringify({ rate, goodput: Math.round(ok / seconds), ok, late, codes, p50: q(lat, 0.5), p99: q(lat, 0.99), failP50: q(failMs, 0.5), failP99: q(failMs, 0.99), stats: client.getStats().resilience }));
  await client.close();
}
void main();
