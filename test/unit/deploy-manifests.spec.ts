/**
 * The Kubernetes manifests of sample/deploy/ hold what docs/kubernetes.md
 * relies on: headless Services whose names the gateway connects to, readiness
 * once the server listens, rolling updates that keep every pod until its
 * replacement is in use, and grace periods that cover preStop + drainTimeout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/child';
import { DEFAULT_DRAIN_TIMEOUT, DEFAULT_RESOLVE_INTERVAL } from '../../lib/defaults';
import { BYE_ACK_WAIT_MS } from '../../lib/protocol/limits';
import { parseYamlDocuments, Yaml } from '../helpers/yaml-lite';

/** A file of the repo (read while a test runs: that is when repoRoot() knows where the spec is). */
const read = (file: string) => readFileSync(join(repoRoot(), file), 'utf8');

type Obj = { [key: string]: Yaml };
const obj = (v: Yaml | undefined): Obj => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`not a map: ${JSON.stringify(v)}`);
  return v;
};
const list = (v: Yaml | undefined): Yaml[] => {
  if (!Array.isArray(v)) throw new Error(`not a list: ${JSON.stringify(v)}`);
  return v;
};
/** The value at a dotted path. */
const at = (v: Yaml, path: string): Yaml | undefined =>
  path.split('.').reduce<Yaml | undefined>((o, k) => (o === undefined ? undefined : obj(o)[k]), v);

function manifests(file: string): { service: Obj; deployment: Obj } {
  const docs = parseYamlDocuments(read(`sample/deploy/${file}`)).map(obj);
  const service = docs.find(d => d.kind === 'Service');
  const deployment = docs.find(d => d.kind === 'Deployment');
  if (service === undefined || deployment === undefined) throw new Error(`${file}: a Service and a Deployment`);
  return { service, deployment };
}

function container(deployment: Obj): Obj {
  return obj(list(at(deployment, 'spec.template.spec.containers'))[0]);
}

/** A scalar as text (a map or list is an error: the manifest has the wrong shape). */
const text = (v: Yaml | undefined): string => {
  if (typeof v === 'object' || v === undefined) throw new Error(`not a scalar: ${JSON.stringify(v)}`);
  return String(v);
};

function env(c: Obj): Record<string, string> {
  return Object.fromEntries(list(c.env).map(e => [text(obj(e).name), text(obj(e).value)]));
}

const SERVICES = [
  { file: 'math.yaml', name: 'math', port: 4001, bindVar: 'MATH_ENDPOINT', connectVar: 'MATH_CONNECT' },
  {
    file: 'notifications.yaml',
    name: 'notifications',
    port: 4002,
    bindVar: 'NOTIFICATIONS_ENDPOINT',
    connectVar: 'NOTIFICATIONS_CONNECT',
  },
];

describe('yaml-lite (the reader of these manifests)', () => {
  it('reads maps, lists of maps and scalars, flow lists, comments and documents', () => {
    const docs = parseYamlDocuments(
      'a: 1\nb:\n  c: "x # y" # comment\n  d:\n    - name: n\n      value: "2"\n    - plain\n  e: [x, "y"]\n---\nf: true\n',
    );
    expect(docs).toEqual([
      { a: 1, b: { c: 'x # y', d: [{ name: 'n', value: '2' }, 'plain'], e: ['x', 'y'] } },
      { f: true },
    ]);
  });

  it('refuses what it does not understand', () => {
    expect(() => parseYamlDocuments('a: &anchor 1\n')).toThrow('unsupported');
    expect(() => parseYamlDocuments('a:\n\tb: 1\n')).toThrow('tab');
    expect(() => parseYamlDocuments('a: 1\n   b: 2\n')).toThrow('indent');
  });
});

describe.each(SERVICES)('sample/deploy/$file', ({ file, name, port, bindVar, connectVar }) => {
  let service: Obj;
  let deployment: Obj;
  let c: Obj;
  beforeAll(() => {
    ({ service, deployment } = manifests(file));
    c = container(deployment);
  });

  it('a headless Service (one DNS address per ready pod) on the port the server binds', () => {
    expect(at(service, 'metadata.name')).toBe(name);
    expect(at(service, 'spec.clusterIP')).toBe('None');
    expect(at(service, 'spec.publishNotReadyAddresses')).toBe(false);
    expect(obj(list(at(service, 'spec.ports'))[0])).toMatchObject({ port, targetPort: port, protocol: 'TCP' });
    expect(at(service, 'spec.selector')).toEqual(at(deployment, 'spec.template.metadata.labels'));
    expect(env(c)[bindVar]).toBe(`tcp://0.0.0.0:${port}`);
  });

  it('ready once the ROUTER listens: a TCP probe on the bound port', () => {
    expect(at(c, 'readinessProbe.tcpSocket.port')).toBe(port);
    expect(obj(list(c.ports)[0]).containerPort).toBe(port);
  });

  it('rolls one pod at a time, each new one in use by every client before an old one stops', () => {
    expect(at(deployment, 'spec.strategy.type')).toBe('RollingUpdate');
    expect(at(deployment, 'spec.strategy.rollingUpdate.maxUnavailable')).toBe(0);
    expect(at(deployment, 'spec.strategy.rollingUpdate.maxSurge')).toBe(1);
    expect(at(deployment, 'spec.minReadySeconds')).toBeGreaterThanOrEqual(DEFAULT_RESOLVE_INTERVAL / 1000);
  });

  it('terminationGracePeriodSeconds covers preStop + drainTimeout + the BYE answers', () => {
    const drainMs = Number(env(c).ZMQ_DRAIN_TIMEOUT);
    expect(drainMs).toBe(DEFAULT_DRAIN_TIMEOUT);
    const preStop = list(at(c, 'lifecycle.preStop.exec.command'));
    expect(preStop[0]).toBe('sleep');
    const grace = at(deployment, 'spec.template.spec.terminationGracePeriodSeconds') as number;
    expect(grace).toBeGreaterThanOrEqual(Number(preStop[1]) + (drainMs + BYE_ACK_WAIT_MS) / 1000 + 1);
  });

  it(`the gateway connects to it by the Service's name (${connectVar})`, () => {
    const gateway = container(manifests('gateway.yaml').deployment);
    expect(env(gateway)[connectVar]).toBe(`tcp://${name}:${port}`);
  });
});

describe('docs/kubernetes.md', () => {
  it('names every manifest and quotes the values it relies on', () => {
    const guide = read('docs/kubernetes.md');
    for (const file of ['math.yaml', 'notifications.yaml', 'gateway.yaml', 'Dockerfile']) {
      expect(guide).toContain(`sample/deploy/${file}`);
    }
    const { deployment } = manifests('math.yaml');
    const grace = at(deployment, 'spec.template.spec.terminationGracePeriodSeconds');
    expect(guide).toContain(`terminationGracePeriodSeconds: ${text(grace)}`);
    expect(guide).toContain(`minReadySeconds: ${text(at(deployment, 'spec.minReadySeconds'))}`);
    expect(guide).toContain('clusterIP: None');
  });

  it('is linked from the README', () => {
    expect(read('README.md')).toContain('(docs/kubernetes.md)');
  });
});
