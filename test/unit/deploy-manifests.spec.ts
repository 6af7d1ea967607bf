/**
 * The Kubernetes manifests and image of sample/deploy/ hold what
 * docs/deployment.md relies on: headless Services whose names the gateway
 * connects to, readiness once a server listens and, for the gateway, while its
 * /health answers; an HTTP server bound where probes reach it; CURVE keys from
 * Secrets; resources, an unprivileged read-only container, PodDisruptionBudgets;
 * rolling updates that keep every pod until its replacement is in use; grace
 * periods that cover preStop + drainTimeout; an image of compiled code and
 * production dependencies.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../helpers/child';
import { DEFAULT_DRAIN_TIMEOUT } from '../../lib/defaults';
import { BYE_ACK_WAIT_MS } from '../../lib/protocol/tuning';

/** A file of the repo (read while a test runs: that is when repoRoot() knows where the spec is). */
const read = (file: string) => readFileSync(join(repoRoot(), file), 'utf8');

type Obj = Record<string, any>;

function documents(text: string): Obj[] {
  return parseAllDocuments(text).map(doc => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map(e => e.message).join('; '));
    return doc.toJS() as Obj;
  });
}

function manifests(file: string): { service: Obj; deployment: Obj; pdb: Obj | undefined } {
  const docs = documents(read(`sample/deploy/${file}`));
  const service = docs.find(d => d.kind === 'Service');
  const deployment = docs.find(d => d.kind === 'Deployment');
  if (service === undefined || deployment === undefined) throw new Error(`${file}: a Service and a Deployment`);
  return { service, deployment, pdb: docs.find(d => d.kind === 'PodDisruptionBudget') };
}

const container = (deployment: Obj): Obj => deployment.spec.template.spec.containers[0];

/** Plain `value`s of a container's env. */
function env(c: Obj): Record<string, string> {
  return Object.fromEntries((c.env as Obj[]).filter(e => 'value' in e).map(e => [e.name, String(e.value)]));
}

/** `valueFrom.secretKeyRef`s of a container's env: variable → "secret/key". */
function secretRefs(c: Obj): Record<string, string> {
  return Object.fromEntries(
    (c.env as Obj[])
      .filter(e => e.valueFrom?.secretKeyRef !== undefined)
      .map(e => [e.name, `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`]),
  );
}

/** A container port by name or number: the number. */
function portOf(c: Obj, port: string | number): number {
  if (typeof port === 'number') return port;
  const found = (c.ports as Obj[]).find(p => p.name === port);
  if (found === undefined) throw new Error(`no container port named ${port}`);
  return found.containerPort;
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
const FILES = ['math.yaml', 'notifications.yaml', 'gateway.yaml'];

describe.each(SERVICES)('sample/deploy/$file', ({ file, name, port, bindVar, connectVar }) => {
  let service: Obj;
  let deployment: Obj;
  let c: Obj;
  beforeAll(() => {
    ({ service, deployment } = manifests(file));
    c = container(deployment);
  });

  it('a headless Service (one DNS address per ready pod) on the port the server binds', () => {
    expect(service.metadata.name).toBe(name);
    expect(service.spec.clusterIP).toBe('None');
    expect(service.spec.publishNotReadyAddresses).toBe(false);
    expect(service.spec.ports[0]).toMatchObject({ port, targetPort: port, protocol: 'TCP' });
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(env(c)[bindVar]).toBe(`tcp://0.0.0.0:${port}`);
  });

  it('ready once the ROUTER listens: a TCP probe on the bound port', () => {
    expect(c.readinessProbe.tcpSocket.port).toBe(port);
    expect(c.ports[0].containerPort).toBe(port);
  });

  it('rolls one pod at a time', () => {
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
  });

  it("minReadySeconds outlasts the gateway's resolveInterval plus DNS's TTL (5 s) by 5 s at least", () => {
    const resolveMs = Number(env(container(manifests('gateway.yaml').deployment)).ZMQ_RESOLVE_INTERVAL);
    expect(resolveMs).toBeGreaterThan(0);
    expect(deployment.spec.minReadySeconds * 1000).toBeGreaterThanOrEqual(resolveMs + 5_000 + 5_000);
  });

  it('terminationGracePeriodSeconds covers preStop + drainTimeout + the BYE answers', () => {
    const drainMs = Number(env(c).ZMQ_DRAIN_TIMEOUT);
    expect(drainMs).toBe(DEFAULT_DRAIN_TIMEOUT);
    const preStop = c.lifecycle.preStop.exec.command;
    expect(preStop[0]).toBe('sleep');
    const grace = deployment.spec.template.spec.terminationGracePeriodSeconds;
    expect(grace).toBeGreaterThanOrEqual(Number(preStop[1]) + (drainMs + BYE_ACK_WAIT_MS) / 1000 + 1);
  });

  it("CURVE from Secrets: its own pair from <app>-curve, and only the gateway's public key", () => {
    const upper = name.toUpperCase();
    expect(secretRefs(c)).toEqual({
      [`${upper}_CURVE_PUBLIC_KEY`]: `${name}-curve/${upper}_CURVE_PUBLIC_KEY`,
      [`${upper}_CURVE_SECRET_KEY`]: `${name}-curve/${upper}_CURVE_SECRET_KEY`,
      GATEWAY_CURVE_PUBLIC_KEY: 'gateway-curve/GATEWAY_CURVE_PUBLIC_KEY',
    });
  });

  it(`the gateway connects to it by the Service's name (${connectVar})`, () => {
    const gateway = container(manifests('gateway.yaml').deployment);
    expect(env(gateway)[connectVar]).toBe(`tcp://${name}:${port}`);
  });
});

describe('sample/deploy/gateway.yaml', () => {
  let service: Obj;
  let c: Obj;
  beforeAll(() => {
    let deployment: Obj;
    ({ service, deployment } = manifests('gateway.yaml'));
    c = container(deployment);
  });

  it('the gateway listens on every interface of its pod, where probes and the Service reach it', () => {
    expect(env(c).HTTP_HOST).toBe('0.0.0.0');
    // main.ts listens where config says, and config reads HTTP_HOST.
    expect(read('sample/gateway/src/main.ts')).toMatch(/app\.listen\(config\.httpPort, config\.httpHost\)/);
    expect(read('sample/shared/src/config.ts')).toMatch(/httpHost: process\.env\.HTTP_HOST \|\|/);
    expect(read('sample/deploy/Dockerfile')).toMatch(/^ENV HTTP_HOST=0\.0\.0\.0$/m);
  });

  it('ready while GET /health, a route the gateway serves, answers on the port it listens on', () => {
    const probe = c.readinessProbe.httpGet;
    expect(probe.path).toBe('/health');
    expect(read('sample/gateway/src/health.controller.ts')).toMatch(/@Controller\('health'\)\s+export class/);
    expect(portOf(c, probe.port)).toBe(Number(env(c).HTTP_PORT));
    expect(portOf(c, c.livenessProbe.tcpSocket.port)).toBe(Number(env(c).HTTP_PORT));
  });

  it("the Service sends to the gateway's HTTP port", () => {
    expect(portOf(c, service.spec.ports[0].targetPort)).toBe(Number(env(c).HTTP_PORT));
  });

  it("CURVE from Secrets: its own pair, and each service's public key only", () => {
    expect(secretRefs(c)).toEqual({
      GATEWAY_CURVE_PUBLIC_KEY: 'gateway-curve/GATEWAY_CURVE_PUBLIC_KEY',
      GATEWAY_CURVE_SECRET_KEY: 'gateway-curve/GATEWAY_CURVE_SECRET_KEY',
      MATH_CURVE_PUBLIC_KEY: 'math-curve/MATH_CURVE_PUBLIC_KEY',
      NOTIFICATIONS_CURVE_PUBLIC_KEY: 'notifications-curve/NOTIFICATIONS_CURVE_PUBLIC_KEY',
    });
  });
});

describe.each(FILES)('sample/deploy/%s: what an operator needs', file => {
  let deployment: Obj;
  let pdb: Obj | undefined;
  beforeAll(() => ({ deployment, pdb } = manifests(file)));

  it('runs compiled JavaScript from the image, not TypeScript through a loader', () => {
    expect(container(deployment).command).toEqual(['node', `${file.replace('.yaml', '')}/src/main.js`]);
  });

  it('resource requests and limits', () => {
    const { requests, limits } = container(deployment).resources;
    for (const r of [requests, limits]) expect(Object.keys(r).sort()).toEqual(['cpu', 'memory']);
  });

  it('an unprivileged container with a read-only root filesystem', () => {
    expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container(deployment).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it("a PodDisruptionBudget over the Deployment's pods that lets one go at a time", () => {
    expect(pdb?.apiVersion).toBe('policy/v1');
    expect(pdb?.spec.selector).toEqual(deployment.spec.selector);
    expect(pdb?.spec.maxUnavailable).toBe(1);
    expect(deployment.spec.replicas).toBeGreaterThan(1);
  });
});

describe('sample/deploy/curve-secrets.mjs', () => {
  it('prints a Secret per app with the keys the manifests read', () => {
    const out = execFileSync(process.execPath, ['sample/deploy/curve-secrets.mjs'], {
      cwd: repoRoot(),
      encoding: 'utf8',
    });
    const secrets = Object.fromEntries(documents(out).map(d => [d.metadata.name, d]));
    const wanted = new Set(
      FILES.flatMap(f => Object.values(secretRefs(container(manifests(f).deployment)))).map(ref => ref),
    );
    for (const ref of wanted) {
      const [name, key] = ref.split('/') as [string, string];
      expect({ ref, kind: secrets[name]?.kind, key: secrets[name]?.stringData[key] }).toEqual({
        ref,
        kind: 'Secret',
        key: expect.stringMatching(/^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/),
      });
    }
  });
});

describe('sample/deploy/Dockerfile', () => {
  const dockerfile = () => read('sample/deploy/Dockerfile');

  it('builds dist/ and the compiled sample in one stage, runs them with production dependencies only', () => {
    const [build, run] = dockerfile()
      .split(/^FROM /m)
      .slice(1) as [string, string];
    expect(build).toMatch(/npm run build && npx tsc -p sample\/deploy\/tsconfig\.json/);
    expect(run).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(run).toMatch(/^COPY --from=build \/src\/dist \.\/node_modules\/nestjs-zeromq\/dist$/m);
    expect(run).not.toMatch(/^COPY (lib|sample |\.)/m);
    expect(run).toMatch(/^USER node$/m);
  });

  it('its runtime package.json lists every package the sample imports, and no devDependencies', () => {
    const pkg = JSON.parse(read('sample/deploy/package.json')) as Obj;
    expect(pkg.devDependencies).toBeUndefined();
    const imports = new Set<string>();
    for (const app of ['gateway', 'math', 'notifications', 'shared']) {
      const files = execFileSync('git', ['ls-files', `sample/${app}/src`], { cwd: repoRoot(), encoding: 'utf8' });
      for (const f of files.split('\n').filter(Boolean)) {
        for (const m of read(f).matchAll(/from '([^.'][^']*)'/g))
          imports.add(
            m[1]!
              .split('/')
              .slice(0, m[1]!.startsWith('@') ? 2 : 1)
              .join('/'),
          );
      }
    }
    imports.delete('nestjs-zeromq'); // copied in from the build stage
    for (const name of [...imports, 'zeromq'])
      expect({ name, listed: name in pkg.dependencies }).toEqual({ name, listed: true });
  });
});

describe('docs/deployment.md', () => {
  it('names every manifest and quotes the values it relies on', () => {
    const guide = read('docs/deployment.md');
    for (const file of [...FILES, 'Dockerfile', 'curve-secrets.mjs']) expect(guide).toContain(`sample/deploy/${file}`);
    const { deployment } = manifests('math.yaml');
    expect(guide).toContain(
      `terminationGracePeriodSeconds: ${deployment.spec.template.spec.terminationGracePeriodSeconds}`,
    );
    expect(guide).toContain(`minReadySeconds: ${deployment.spec.minReadySeconds}`);
    expect(guide).toContain('clusterIP: None');
  });

  it('is linked from the README', () => {
    expect(read('README.md')).toContain('(docs/deployment.md)');
  });
});
