/**
 * A simulated cluster for the resilience scenarios: every process lives in a
 * network namespace of its own, as a pod does, and the namespaces meet on a
 * bridge that lives in a further namespace. Nothing is created in the host's
 * namespace: each veth pair is made inside the bridge namespace with its peer
 * moved straight into the node's, and the addresses (10.231.0.0/24) exist
 * only on those veths, with no route anywhere else.
 *
 * Faults: `partition(node)` sets the node's port on the bridge down (frames
 * are dropped silently: no FIN, no RST, the kernel keeps the connections);
 * `heal(node)` sets it up again. kill -9 and SIGSTOP are the children's
 * business ({@link NsChild}).
 *
 * DNS: {@link Dns} runs dnsmasq in a node and answers one name with the
 * addresses of its hosts file, as a Kubernetes headless Service does; a node
 * made with `resolver: dns` gets /etc/netns/<ns>/resolv.conf naming it
 * (`ip netns exec` mounts it over /etc/resolv.conf), so the default
 * resolver (getaddrinfo) asks it.
 *
 * Every name carries the prefix `nzc-<pid>-<n>-` of this run. `destroy()`
 * removes what the run made (children by PID, namespaces by name, the
 * resolv.conf folders, the temp folder); it also runs on process exit, and a
 * new run first removes what runs whose process is gone left behind.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NsChild } from './ns-child';

/** The /24 every cluster uses; it exists only inside the namespaces a cluster creates. */
export const SUBNET = '10.231.0';
const NETNS_ETC = '/etc/netns';
const PREFIX_RE = /^nzc-(\d+)-\d+-/;

let clusters = 0;
const live = new Set<Cluster>();
let exitHook = false;

/** Why the cluster suite cannot run here, or `undefined` when it can (root, `ip`, `dnsmasq`). */
export function clusterUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root (run as root, as CI does)';
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['dnsmasq', 'dnsmasq-base'],
  ]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `\`${tool}\` is missing (Debian package ${pkg})`;
    }
  }
  return undefined;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes namespaces and resolv.conf folders of earlier runs whose process no longer exists. */
function sweepStale(): void {
  const stale = (name: string) => {
    const m = PREFIX_RE.exec(name);
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  };
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (stale(name)) deleteNamespace(name);
  }
  let folders: string[] = [];
  try {
    folders = readdirSync(NETNS_ETC);
  } catch {
    // no /etc/netns: nothing left behind
  }
  for (const name of folders) if (stale(name)) rmSync(join(NETNS_ETC, name), { recursive: true, force: true });
}

function deleteNamespace(name: string): void {
  // Processes still inside (a child that outlived its kill) would keep it: kill them by PID first.
  try {
    for (const pid of ip('netns', 'pids', name).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // the namespace is gone already
  }
  try {
    ip('netns', 'del', name);
  } catch {
    // already gone
  }
  rmSync(join(NETNS_ETC, name), { recursive: true, force: true });
}

/** A host of the cluster: a namespace with one veth on the bridge. */
export interface Node {
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  /** The node's port in the bridge namespace. */
  readonly port: string;
}

export interface NodeOptions {
  /** The last byte of the node's address (10.231.0.x); by default the next free one from .10. */
  host?: number;
  /** A {@link Dns} whose server the node's resolv.conf names. */
  resolver?: Dns;
}

export class Cluster {
  readonly prefix: string;
  /** Temp folder of this run (dnsmasq's hosts file, anything a scenario writes). */
  readonly dir: string;
  private readonly bridgeNs: string;
  private readonly nodes = new Map<string, Node>();
  private readonly namespaces: string[] = [];
  private readonly children = new Set<NsChild>();
  private nextHost = 10;
  private destroyed = false;

  constructor() {
    if (clusters === 0) sweepStale();
    this.prefix = `nzc-${process.pid}-${clusters++}-`;
    this.dir = mkdtempSync(join(tmpdir(), this.prefix));
    // dnsmasq drops to `nobody`: its hosts file must be readable.
    chmodSync(this.dir, 0o755);
    live.add(this);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const c of live) c.destroySync();
      });
    }
    this.bridgeNs = this.addNamespace('sw');
    ip('-n', this.bridgeNs, 'link', 'set', 'lo', 'up');
    ip('-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.bridgeNs, 'link', 'set', 'br0', 'up');
  }

  private addNamespace(suffix: string): string {
    const ns = `${this.prefix}${suffix}`;
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    return ns;
  }

  /** A new host on the bridge, up and addressed. */
  node(name: string, options: NodeOptions = {}): Node {
    if (this.nodes.has(name)) throw new Error(`node ${name} exists`);
    const host = options.host ?? this.nextHost++;
    if (!Number.isInteger(host) || host < 2 || host > 254) throw new Error(`bad host byte ${host}`);
    const ns = this.addNamespace(name);
    const port = `p${host}`;
    const address = `${SUBNET}.${host}`;
    ip('-n', this.bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', this.bridgeNs, 'link', 'set', port, 'master', 'br0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    if (options.resolver !== undefined) {
      const etc = join(NETNS_ETC, ns);
      mkdirSync(etc, { recursive: true });
      writeFileSync(
        join(etc, 'resolv.conf'),
        `nameserver ${options.resolver.node.address}\noptions timeout:1 attempts:3\n`,
      );
    }
    const node: Node = { name, ns, address, port };
    this.nodes.set(name, node);
    return node;
  }

  /** Silently cuts the node off the bridge: its frames are dropped, nobody is told. */
  partition(node: Node): void {
    ip('-n', this.bridgeNs, 'link', 'set', node.port, 'down');
  }

  /** Puts the node back on the bridge. */
  heal(node: Node): void {
    ip('-n', this.bridgeNs, 'link', 'set', node.port, 'up');
  }

  /** Runs `command args` inside the node's namespace; the child is killed by `destroy()`. */
  spawn(node: Node, label: string, command: string, args: string[]): NsChild {
    const child = new NsChild(label, node.ns, command, args);
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /** Runs a TypeScript fixture (`node -r ts-register`) inside the node's namespace. */
  spawnTs(node: Node, label: string, script: string, args: string[]): NsChild {
    return this.spawn(node, label, process.execPath, ['-r', './test/helpers/ts-register.cjs', script, ...args]);
  }

  /** Starts dnsmasq in `node`, answering `name` with `addresses`. */
  async dns(node: Node, name: string, addresses: readonly string[] = []): Promise<Dns> {
    const dns = new Dns(this, node, name);
    await dns.start(addresses);
    return dns;
  }

  /** Kills every child (SIGKILL) and waits for their exits, then removes namespaces and files. */
  async destroy(): Promise<void> {
    await Promise.all([...this.children].map(c => c.kill()));
    this.destroySync();
  }

  private destroySync(): void {
    if (this.destroyed) return;
    for (const c of this.children) c.killNow();
    for (const ns of this.namespaces.reverse()) deleteNamespace(ns);
    rmSync(this.dir, { recursive: true, force: true });
    try {
      // /etc/netns itself, when this run made it and nothing else uses it.
      rmdirSync(NETNS_ETC);
    } catch {
      // not empty, or absent
    }
    this.destroyed = true;
    live.delete(this);
  }
}

/**
 * dnsmasq in a node of the cluster: answers `name` (and only names of its
 * hosts file; nothing is forwarded) with the addresses given to `set()`.
 */
export class Dns {
  private readonly file: string;
  private child: NsChild | undefined;
  private reads = 0;

  constructor(
    private readonly cluster: Cluster,
    readonly node: Node,
    readonly name: string,
  ) {
    this.file = join(cluster.dir, 'service.hosts');
  }

  async start(addresses: readonly string[]): Promise<void> {
    this.write(addresses);
    this.child = this.cluster.spawn(this.node, 'dnsmasq', 'dnsmasq', [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      `--addn-hosts=${this.file}`,
      `--listen-address=${this.node.address}`,
      '--bind-interfaces',
      '--local-ttl=0',
      '--log-facility=-',
      '--pid-file=',
    ]);
    await this.child.errLine(/started, version/, 10_000);
    await this.nextRead();
  }

  /** Changes the answer: rewrites the hosts file and waits until dnsmasq has read it (SIGHUP). */
  async set(addresses: readonly string[]): Promise<void> {
    this.write(addresses);
    const read = this.nextRead();
    this.child!.signal('SIGHUP');
    await read;
  }

  private write(addresses: readonly string[]): void {
    const text = addresses.map(a => `${a} ${this.name}\n`).join('');
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, text, { mode: 0o644 });
    execFileSync('mv', ['-f', tmp, this.file]);
  }

  /** dnsmasq logs `read <file> - N names` each time it loads the hosts file. */
  private nextRead(): Promise<unknown> {
    const n = ++this.reads;
    return this.child!.errLineCount(/read .*service\.hosts/, n, 10_000);
  }
}
