/**
 * CPU time and heap allocation of a benchmark phase, per request: what each
 * side spends on a call, beside how fast it goes.
 *
 * CPU is read for a whole process, every thread (libzmq's I/O threads, the
 * kernel work of its sockets' system calls), and for its main thread alone:
 * /proc/<pid>/task/<tid>/schedstat (ns), Linux only (NaN elsewhere). Heap allocation is what V8 handed out in the window:
 * the growth of the used heap plus what every collection in it freed
 * (v8.GCProfiler reports each collection's before and after).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics } from 'node:v8';

/** Nanoseconds of CPU process `pid` has used, all threads and its main (JavaScript) thread alone; `undefined` where /proc cannot tell. */
export function processCpuNs(pid: number): { all: number; main: number } | undefined {
  try {
    let all = 0;
    let main = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      all += ns;
      if (tid === String(pid)) main = ns;
    }
    return { all, main };
  } catch {
    return undefined;
  }
}

interface GcStatistics {
  statistics: Array<{
    beforeGC: { heapStatistics: { usedHeapSize: number } };
    afterGC: { heapStatistics: { usedHeapSize: number } };
  }>;
}

/** Counts the bytes V8 allocates in this process from construction on. */
export class HeapAllocations {
  private readonly profiler = new GCProfiler();
  private readonly startUsed = getHeapStatistics().used_heap_size;

  constructor() {
    this.profiler.start();
  }

  /** The bytes allocated since construction; the profiler stops (it costs every collection some time). */
  stop(): number {
    const used = getHeapStatistics().used_heap_size;
    const data = this.profiler.stop() as unknown as GcStatistics | undefined;
    let freed = 0;
    for (const gc of data?.statistics ?? []) {
      freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
    }
    return used - this.startUsed + freed;
  }
}

/** One side's cost of a phase of `requests` requests: CPU µs and heap bytes per request (NaN: not measured). */
export interface PhaseCost {
  clientCpuUs: number;
  serverCpuUs: number;
  /** Of which the main thread's (JavaScript, GC, the socket calls it makes itself). */
  clientMainCpuUs: number;
  serverMainCpuUs: number;
  clientAllocBytes: number;
  serverAllocBytes: number;
}

/** Marks the start of a phase; `end(requests)` gives its cost per request. */
export async function measureCost(
  serverPid: number | undefined,
  serverAllocated: (() => Promise<number>) | undefined,
  sampler?: HeapSampler,
  countHeap = true,
): Promise<{ end(requests: number): Promise<PhaseCost> }> {
  const serverCpu = () => (serverPid === undefined ? undefined : processCpuNs(serverPid));
  const ownCpu = () => processCpuNs(process.pid);
  const serverAlloc0 = serverAllocated === undefined ? Number.NaN : await serverAllocated();
  const cpu0 = ownCpu();
  const serverCpu0 = serverCpu();
  const heap = countHeap ? new HeapAllocations() : undefined;
  sampler?.start();
  return {
    async end(requests: number): Promise<PhaseCost> {
      sampler?.stop();
      const alloc = heap === undefined ? Number.NaN : heap.stop();
      const cpu1 = ownCpu();
      const serverCpu1 = serverCpu();
      const perRequest = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? Number.NaN : (b - a) / 1000 / requests;
      const serverAlloc = serverAllocated === undefined ? Number.NaN : (await serverAllocated()) - serverAlloc0;
      return {
        clientCpuUs: perRequest(cpu0?.all, cpu1?.all),
        serverCpuUs: perRequest(serverCpu0?.all, serverCpu1?.all),
        clientMainCpuUs: perRequest(cpu0?.main, cpu1?.main),
        serverMainCpuUs: perRequest(serverCpu0?.main, serverCpu1?.main),
        clientAllocBytes: alloc / requests,
        serverAllocBytes: serverAlloc / requests,
      };
    },
  };
}

/** Where `--heap-prof` wants sampling heap profiles (set by run.ts for its children). */
export const HEAP_PROF_ENV = 'BENCH_HEAP_PROF';

/**
 * A sampling heap profile of a window, collected objects included (what a
 * request allocates, not only what survives), written as
 * `<dir>/<name>.heapprofile` (Chrome DevTools reads it). A no-op unless
 * {@link HEAP_PROF_ENV} names a folder.
 */
export class HeapSampler {
  private session: import('node:inspector').Session | undefined;

  constructor(private readonly name: string) {}

  start(): void {
    const dir = process.env[HEAP_PROF_ENV];
    if (dir === undefined || dir === '' || this.session !== undefined) return;
    /* eslint-disable-next-line @typescript-eslint/no-require-imports */
    const { Session } = require('node:inspector') as typeof import('node:inspector');
    this.session = new Session();
    this.session.connect();
    // An in-process session answers synchronously.
    this.session.post('HeapProfiler.enable');
    this.session.post('HeapProfiler.startSampling', {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as object);
  }

  stop(): void {
    const session = this.session;
    const dir = process.env[HEAP_PROF_ENV];
    if (session === undefined || dir === undefined) return;
    this.session = undefined;
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (err === null) writeFileSync(join(dir, `${this.name}.heapprofile`), JSON.stringify(result.profile));
    });
    session.disconnect();
  }
}

/** Garbage collections of this process so far: full (mark-compact) ones with their pause time, and minor ones. */
export interface GcCount {
  major: number;
  majorMs: number;
  minor: number;
}

/**
 * Counts this process's garbage collections from construction on
 * (`PerformanceObserver` gc entries). Full collections are what a sequential
 * caller waits for: the 64 KiB row of the report counts them.
 */
export class GcCounter {
  private readonly count: GcCount = { major: 0, majorMs: 0, minor: 0 };

  constructor() {
    const observer = new PerformanceObserver(list => {
      for (const entry of list.getEntries()) {
        const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
          this.count.major++;
          this.count.majorMs += entry.duration;
        } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
          this.count.minor++;
        }
      }
    });
    observer.observe({ entryTypes: ['gc'] });
  }

  /** The counts so far (a copy); a collection is counted once its entry is delivered, on a timer after it. */
  read(): GcCount {
    return { ...this.count };
  }
}
