/**
 * The pieces the cluster scenarios share: a cluster with a DNS node, server
 * nodes running test/fixtures/cluster-server.ts on one port, and a client
 * node running test/fixtures/cluster-client.ts, driven through its command
 * lines. Every wait is on a line a process prints, bounded by a hang guard.
 */
import type { Burst, Report } from '../fixtures/cluster-client';
import { Cluster, clusterUnavailable, Dns, Node } from './net';
import { NsChild } from './ns-child';

export type { Burst, Report };

/** The name the DNS node answers with the servers' addresses. */
export const SERVICE = 'svc.nzc.test';
export const PORT = 5555;
/** Hang guard of one wait: far beyond what a healthy run needs. */
export const GUARD_MS = 30_000;
/** Long versions of the scenarios (`SOAK=1`). */
export const SOAK = process.env.SOAK === '1';
/**
 * Client options every scenario adds (`CLUSTER_CLIENT_OPTIONS='{"strategy":"round-robin"}'`):
 * to measure an alternative against the defaults the scenarios assert.
 */
const EXTRA_CLIENT_OPTIONS = JSON.parse(process.env.CLUSTER_CLIENT_OPTIONS ?? '{}') as Record<string, unknown>;

/**
 * `describe` where namespaces can be made. Where they cannot (no root, no
 * `ip`, no dnsmasq), the scenarios are not registered and one test says why:
 * it fails in CI (CI=true), which must run them, and passes elsewhere, so a
 * developer without root sees the reason instead of a silent pass.
 */
export function clusterDescribe(title: string, body: () => void): void {
  const reason = clusterUnavailable();
  if (reason === undefined) {
    describe(title, body);
    return;
  }
  process.stderr.write(`[test:cluster] NOT RUN "${title}": ${reason}\n`);
  it(`${title}: the cluster cannot be made here (${reason})`, () => {
    expect(process.env.CI === 'true' ? `${title} did not run: ${reason}` : undefined).toBeUndefined();
  });
}

/** Prints a scenario's figures on one stderr line (the report a run leaves behind, pass or fail). */
export function figures(scenario: string, values: unknown): void {
  process.stderr.write(`[cluster] ${scenario}: ${JSON.stringify(values)}\n`);
}

/** The codes of `failed` that are not codes of this package. */
export function untyped(failed: Record<string, number>, typed: ReadonlySet<string>): string[] {
  return Object.keys(failed).filter(code => !typed.has(code));
}

export class Server {
  constructor(
    readonly id: string,
    readonly node: Node,
    readonly child: NsChild,
  ) {}

  get address(): string {
    return this.node.address;
  }

  /** The `record` keys this process ran. */
  records(): string[] {
    return this.child.stdout.filter(l => l.startsWith('REC ')).map(l => l.slice(4));
  }
}

export class LoadClient {
  private seq = 0;

  constructor(readonly child: NsChild) {}

  private tag(): string {
    return `t${++this.seq}`;
  }

  private async ask(command: string, answer: string, ms = GUARD_MS): Promise<string> {
    const tag = this.tag();
    const line = this.child.line(new RegExp(`^${answer} ${tag}(?: (.*))?$`), ms);
    this.child.send(`${command} ${tag}`);
    return (await line)[1] ?? '';
  }

  /** Resolves once `n` more calls have succeeded. */
  async more(n: number, ms = GUARD_MS): Promise<void> {
    await this.ask(`more ${n}`, 'AT', ms);
  }

  /** Resolves once `server` has answered `n` more calls. */
  async served(server: string, n: number, ms = GUARD_MS): Promise<void> {
    await this.ask(`served ${server} ${n}`, 'AT', ms);
  }

  async mark(): Promise<void> {
    await this.ask('mark', 'MARKED');
  }

  /** Notes `text` in the window's figures, at the moment the client reads it. */
  async note(text: string): Promise<void> {
    await this.ask(`note ${text}`, 'NOTED');
  }

  async report(): Promise<Report> {
    return JSON.parse(await this.ask('report', 'REPORT')) as Report;
  }

  async stop(): Promise<Report> {
    return JSON.parse(await this.ask('stop', 'STOPPED')) as Report;
  }

  async closed(loops: number, count: number): Promise<Burst> {
    return JSON.parse(await this.ask(`closed ${loops} ${count}`, 'CLOSED', 120_000)) as Burst;
  }

  async open(rate: number, ms: number): Promise<Burst> {
    return JSON.parse(await this.ask(`open ${rate} ${ms}`, 'OPEN', ms + 120_000)) as Burst;
  }

  /** The `nth` `<EVENT> <peer>` line this client printed (JOINED, LEFT, DRAINING, EJECTED, RESTORED). */
  async event(event: string, peer: string, nth = 1, ms = GUARD_MS): Promise<void> {
    await this.child.lineCount(new RegExp(`^${event} ${peer}(?: |$)`), nth, ms);
  }

  /** The reasons of the client's `peer:left` events for `peer`, in order. */
  leftReasons(peer: string): string[] {
    return this.child.stdout.filter(l => l.startsWith(`LEFT ${peer} `)).map(l => l.slice(`LEFT ${peer} `.length));
  }

  count(event: string, peer: string): number {
    const re = new RegExp(`^${event} ${peer}(?: |$)`);
    return this.child.stdout.filter(l => re.test(l)).length;
  }
}

export interface ClientPlan {
  id: string;
  /** Endpoints, or `tcp://svc.nzc.test:5555` by default (the DNS name). */
  connect?: string | string[];
  options?: Record<string, unknown>;
  loops?: number;
  recordLoops?: number;
  work?: 'work' | 'work-once';
  lifetime?: number;
}

/** A cluster with a DNS node (`.2`), made fresh for each scenario. */
export class Scenario {
  readonly cluster = new Cluster();
  readonly servers = new Map<string, Server>();
  /** Every server process started, restarted ones included. */
  readonly history: Server[] = [];
  private dnsNode: Node | undefined;
  private dnsServer: Dns | undefined;
  private nodes = 0;

  async dns(): Promise<Dns> {
    this.dnsNode ??= this.cluster.node('dns', { host: 2 });
    this.dnsServer ??= await this.cluster.dns(this.dnsNode, SERVICE);
    return this.dnsServer;
  }

  /** Starts a server process with `id` on a node of its own (or on `node`, again, after it was killed). */
  async server(id: string, node?: Node, workMicros = 200): Promise<Server> {
    const at = node ?? this.cluster.node(`s${++this.nodes}`);
    const child = this.cluster.spawnTs(at, id, 'test/fixtures/cluster-server.ts', [
      `tcp://${at.address}:${PORT}`,
      id,
      String(workMicros),
    ]);
    await child.line(/^READY /, GUARD_MS);
    const server = new Server(id, at, child);
    this.servers.set(id, server);
    this.history.push(server);
    return server;
  }

  /** Starts the load client on a node of its own whose resolver is the DNS node, and waits until it connected. */
  async client(plan: ClientPlan): Promise<LoadClient> {
    const dns = await this.dns();
    const node = this.cluster.node(`c-${plan.id}`, { resolver: dns });
    const full = {
      connect: `tcp://${SERVICE}:${PORT}`,
      lifetime: SOAK ? 400_000 : 120_000,
      ...plan,
      options: { ...plan.options, ...EXTRA_CLIENT_OPTIONS },
    };
    const child = this.cluster.spawnTs(node, plan.id, 'test/fixtures/cluster-client.ts', [JSON.stringify(full)]);
    await child.line(/^CONNECTED$/, GUARD_MS);
    return new LoadClient(child);
  }

  /** Every `record` key that ran on more than one server process, or twice on one. */
  duplicateRecords(): string[] {
    const seen = new Set<string>();
    const twice: string[] = [];
    for (const s of this.history) {
      for (const key of s.records()) {
        if (seen.has(key)) twice.push(key);
        seen.add(key);
      }
    }
    return twice;
  }

  destroy(): Promise<void> {
    return this.cluster.destroy();
  }
}
