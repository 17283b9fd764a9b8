/**
 * The deployment files, checked as far as this machine can: the Kubernetes manifest parses, its
 * ConfigMap is a valid Gatehouse configuration (the real loader), its probes name endpoints the
 * gateway serves and its security context is the restricted one; the systemd unit passes
 * `systemd-analyze verify` (when present) with no unknown keys; the Containerfile is multi-stage,
 * ends as a numeric non-root user and has a HEALTHCHECK on an endpoint the gateway serves. No
 * container runtime or cluster is available here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../src/config/load.ts';
import { ROOT } from './support/gateway.ts';

const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const SERVED = ['/healthz', '/readyz'];

/** The parts of the Kubernetes objects the test reads. */
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: unknown };
}
interface Probe {
  httpGet: { path: string };
}
interface Container {
  readinessProbe: Probe;
  livenessProbe: Probe;
  startupProbe: Probe;
  securityContext: unknown;
  env: EnvVar[];
  volumeMounts: Array<{ mountPath: string; readOnly?: boolean }>;
}
interface K8sObject {
  kind: string;
  data: Record<string, string>;
  spec: {
    template: {
      spec: {
        containers: Container[];
        securityContext: { runAsNonRoot: boolean; runAsUser: number };
        automountServiceAccountToken: boolean;
      };
    };
    strategy: { rollingUpdate: { maxUnavailable: number } };
  };
}

test('kubernetes: parses; the ConfigMap is a valid config; probes, secrets and a restricted security context', () => {
  const docs = parseAllDocuments(read('deploy/kubernetes/gatehouse.yaml'));
  for (const d of docs) assert.deepEqual(d.errors, []);
  const objs = docs.map((d) => d.toJS() as K8sObject);
  const kinds = objs.map((o) => o.kind);
  assert.deepEqual(kinds.sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service']);
  const cm = objs.find((o) => o.kind === 'ConfigMap')!;
  const config = parseConfig(cm.data['gatehouse.yaml'], '/etc/gatehouse/gatehouse.yaml', {
    DATABASE_URL: 'postgres://u@db:5432/g',
    REDIS_URL: 'redis://redis:6379',
  });
  assert.equal(config.storage.driver, 'postgres');
  assert.ok(config.limits?.redis, 'limits (and fan-out) through Redis');

  const dep = objs.find((o) => o.kind === 'Deployment')!;
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) assert.ok(SERVED.includes(p.httpGet.path));
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.equal(pod.automountServiceAccountToken, false);
  assert.deepEqual(c.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ['ALL'] },
  });
  const secretEnv = c.env
    .filter((e) => e.valueFrom?.secretKeyRef)
    .map((e) => e.name)
    .sort();
  assert.deepEqual(secretEnv, ['DATABASE_URL', 'GATEHOUSE_SECRETS_KEY', 'REDIS_URL']);
  assert.ok(
    !c.env.some(
      (e) => /KEY|URL|TOKEN|SECRET/.test(e.name) && typeof e.value === 'string' && !e.name.startsWith('OTEL_'),
    ),
    'no secret inline',
  );
  // Writable places are volumes; the config is read-only.
  const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.mountPath, m]));
  assert.equal(mounts['/etc/gatehouse'].readOnly, true);
  assert.equal(config.gateway.stateDir, '/var/lib/gatehouse');
  assert.ok(mounts['/var/lib/gatehouse'] && mounts['/tmp']);
  assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0);
});

test('systemd: the unit verifies, hardened, reload by SIGHUP; it can run sandboxed servers (root, five capabilities)', (t) => {
  const unit = read('deploy/systemd/gatehouse.service');
  for (const k of [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'User=root',
    'StateDirectory=gatehouse',
    'CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_CHOWN CAP_FOWNER CAP_KILL\n',
    'ExecReload=/bin/kill -HUP $MAINPID',
  ])
    assert.ok(unit.includes(k), k);
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m, 'V8 needs W+X pages');
  // What bubblewrap and setpriv need (docs/sandbox.md, "Under systemd"): a dynamic user would make the
  // servers share the gateway's uid (check 6.4 fails); the rest would refuse bubblewrap's calls.
  assert.doesNotMatch(unit, /^DynamicUser=yes/m);
  assert.doesNotMatch(unit, /^ProtectProc=invisible/m, 'the gateway sees its servers, to reap them');
  const setting = (k: string) => unit.match(new RegExp(`^${k}=(.*)$`, 'gm'))?.map((l) => l.slice(k.length + 1)) ?? [];
  for (const ns of ['user', 'mnt', 'net', 'pid', 'ipc', 'uts', 'cgroup'])
    assert.ok(setting('RestrictNamespaces')[0]?.split(' ').includes(ns), `namespace ${ns}`);
  assert.ok(setting('RestrictAddressFamilies')[0]?.split(' ').includes('AF_NETLINK'));
  const [allowed, denied] = setting('SystemCallFilter');
  assert.ok(allowed.split(' ').includes('@mount') && allowed.split(' ').includes('sethostname'), allowed);
  assert.ok(denied.startsWith('~'));
  for (const blocked of ['@privileged', '@mount', '@setuid', '@chown', 'pivot_root', 'sethostname'])
    assert.ok(!denied.slice(1).split(' ').includes(blocked), `${blocked} is denied`);
  assert.doesNotMatch(unit, /^Documentation=https:\/\/gatehouse\.dev/m, 'no made-up address');
  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
  if (!analyze) return void t.skip('systemd-analyze is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-unit-'));
  try {
    const file = join(dir, 'gatehouse.service');
    writeFileSync(file, unit.replace('/usr/bin/gatehouse', '/bin/true')); // the binary is not installed here
    const r = spawnSync(analyze, ['verify', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr + r.stdout, /Unknown (key|section)|Failed to parse|Invalid/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Containerfile: multi-stage, numeric non-root user, HEALTHCHECK on a served endpoint, compiled entrypoint', () => {
  const f = read('deploy/container/Containerfile');
  const lines = f.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  assert.ok(lines.filter((l) => /^FROM\s/.test(l)).length >= 2, 'multi-stage');
  const users = lines.filter((l) => /^USER\s/.test(l));
  assert.match(users.at(-1)!, /^USER\s+[1-9]\d*:[1-9]\d*$/, 'ends as a numeric, non-root user');
  const health = f.slice(f.indexOf('HEALTHCHECK'));
  assert.ok(SERVED.some((p) => health.includes(p)));
  assert.match(f, /ENTRYPOINT \["node", "\/opt\/gatehouse\/dist\/cli\/main\.js"\]/);
  assert.match(f, /npm prune --omit=dev/);
  // Every file the runtime stage copies comes from the build stage, owned by root (not writable by the user).
  for (const l of lines.filter((x) => /^COPY --from=build/.test(x))) assert.match(l, /--chown=root:root/);
  // What the build stage copies exists in the repository.
  for (const m of f.matchAll(/^COPY (?!--from)(.+) \.\/\S*$/gm))
    for (const p of m[1].split(/\s+/)) assert.ok(existsSync(join(ROOT, p)), p);
});
