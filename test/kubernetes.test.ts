/**
 * deploy/kubernetes, checked without a cluster: every manifest is parsed with `yaml`
 * and each object validated against the official Kubernetes OpenAPI schema of its
 * kind (the `kubernetes-models` validators, strict: a field the schema does not know
 * is an error too, as kubectl's server-side field validation makes it); then the
 * deployment's invariants are asserted: each signer's volume and Secret are its own,
 * signers take no inbound connection and reach only the coordinator and DNS, the
 * coordinator is not claimed to be HA, every container is locked down, and each
 * node's config is accepted by that daemon's own config validator.
 * `kubectl kustomize` builds the same objects where kubectl is present.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ROUTES, generateIdentity } from '@keyquorum/protocol';
import { loadConfigFile } from '@keyquorum/coordinator';
import { resolveSignerOptions } from '@keyquorum/signer';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/process.ts';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };
type Labels = Record<string, string>;

const DIR = path.join(REPO_ROOT, 'deploy/kubernetes');
const SIGNERS = ['signer-1', 'signer-2', 'signer-3'];
const NAMESPACE = 'keyquorum';

/** The schema validator of each kind used here; any other kind fails the test. */
const MODELS: Record<string, { prototype: { validate(): void } }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

/**
 * Runs the schema validator of `o`'s kind on it, then reports every field the
 * validator never looked at: the compiled schema reads each property it defines, so
 * a property it did not read is unknown to the schema (objects it enumerates, maps
 * such as labels and data, are taken whole).
 */
function validate(o: Obj): void {
  const model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (model === undefined) throw new Error(`${o.kind} ${o.metadata?.name}: no schema for ${o.apiVersion}/${o.kind}`);
  const read = new Set<string>();
  const maps = new Set<string>();
  const wrap = (v: unknown, at: string): unknown =>
    typeof v !== 'object' || v === null
      ? v
      : new Proxy(v, {
          get(target, key, receiver) {
            const value = Reflect.get(target, key, receiver) as unknown;
            if (typeof key !== 'string' || !Object.hasOwn(target, key)) return value;
            read.add(`${at}/${key}`);
            return wrap(value, `${at}/${key}`);
          },
          ownKeys(target) {
            maps.add(at);
            return Reflect.ownKeys(target);
          },
        });
  model.prototype.validate.call(wrap(o, ''));
  const unknown: string[] = [];
  const walk = (v: unknown, at: string): void => {
    if (typeof v !== 'object' || v === null || maps.has(at)) return;
    for (const [key, child] of Object.entries(v)) {
      const here = `${at}/${key}`;
      if (!Array.isArray(v) && !read.has(here)) unknown.push(here);
      else walk(child, here);
    }
  };
  walk(o, '');
  if (unknown.length > 0) throw new Error(`${o.kind} ${o.metadata.name}: unknown field(s) ${unknown.join(', ')}`);
}

const readText = (file: string) => fs.readFileSync(path.join(DIR, file), 'utf8');

/**
 * The objects `kubectl apply -k DIR` would create: each resource file's documents,
 * and the Secrets of `secretGenerator` as kustomize makes them (Opaque, one key per
 * file, names unhashed by `disableNameSuffixHash`), in the kustomization's namespace.
 */
function load(dir: string): Obj[] {
  const k = parse(readText(path.join(dir, 'kustomization.yaml')), { version: '1.1' }) as { namespace?: string; resources: string[]; secretGenerator?: Array<{ name: string; files: string[] }>; generatorOptions?: { disableNameSuffixHash?: boolean } };
  const objects: Obj[] = [];
  for (const r of k.resources) {
    if (fs.statSync(path.join(DIR, dir, r)).isDirectory()) {
      objects.push(...load(path.join(dir, r)));
      continue;
    }
    // YAML 1.1, as Kubernetes reads it (0440 is octal there, 440 in YAML 1.2).
    for (const doc of parseAllDocuments(readText(path.join(dir, r)), { version: '1.1' })) {
      expect([r, doc.errors]).toEqual([r, []]);
      objects.push(doc.toJS() as Obj);
    }
  }
  if (k.secretGenerator !== undefined) expect(k.generatorOptions?.disableNameSuffixHash).toBe(true);
  for (const g of k.secretGenerator ?? []) {
    objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: 'Opaque', data: Object.fromEntries(g.files.map((f) => [f.split('=')[0]!, ''])) });
  }
  if (k.namespace !== undefined) for (const o of objects) if (o.kind !== 'Namespace') o.metadata.namespace = k.namespace;
  return objects;
}

const objects = load('.');
const find = (kind: string, name: string) => {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  expect([kind, name, found.length]).toEqual([kind, name, 1]);
  return found[0]!;
};
const coordinator = find('Deployment', 'keyquorum-coordinator');
const signerSets = SIGNERS.map((id) => find('StatefulSet', `keyquorum-${id}`));
const workloads = [coordinator, ...signerSets];
const podLabels = (w: Obj): Labels => w.spec.template.metadata.labels;
const podSpec = (w: Obj): any => w.spec.template.spec;
const containersOf = (w: Obj): any[] => [...(podSpec(w).initContainers ?? []), ...podSpec(w).containers];
const selects = (selector: Labels, labels: Labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const configOf = (w: Obj, file: string): Record<string, any> => {
  const volume = podSpec(w).volumes.find((v: any) => v.name === 'config');
  return JSON.parse(find('ConfigMap', volume.configMap.name).data[file]) as Record<string, any>;
};
const mountPathOf = (container: any, volume: string): string => container.volumeMounts.find((m: any) => m.name === volume).mountPath;
const secretVolumes = (w: Obj): any[] => podSpec(w).volumes.filter((v: any) => v.secret !== undefined);
const port = (listen: string) => Number(listen.split(':').at(-1));

/** The configs with every FILL_IN_... placeholder replaced by a fresh key (one per placeholder). */
function filledIn(config: Record<string, any>, keys: Map<string, string>): Record<string, any> {
  return JSON.parse(
    JSON.stringify(config).replace(/FILL_IN_[A-Z0-9_]+/g, (name) => {
      if (!keys.has(name)) keys.set(name, bytesToHex(generateIdentity().publicKey));
      return keys.get(name)!;
    }),
  ) as Record<string, any>;
}

describe('deploy/kubernetes', () => {
  it('holds a namespace, the coordinator and three signers, each object valid against the Kubernetes schema of its kind', () => {
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(names).toEqual(
      [
        'Namespace/keyquorum',
        ...['ConfigMap/keyquorum-coordinator-config', 'PersistentVolumeClaim/keyquorum-coordinator-data', 'Deployment/keyquorum-coordinator', 'Secret/keyquorum-coordinator'],
        ...['Service/keyquorum-coordinator', 'Service/keyquorum-coordinator-signers', 'PodDisruptionBudget/keyquorum-coordinator', 'NetworkPolicy/keyquorum-coordinator'],
        ...SIGNERS.flatMap((id) => [`ConfigMap/keyquorum-${id}-config`, `StatefulSet/keyquorum-${id}`, `NetworkPolicy/keyquorum-${id}`, `Secret/keyquorum-${id}`]),
      ].sort(),
    );
    for (const o of objects) {
      expect(() => validate(o)).not.toThrow();
      if (o.kind !== 'Namespace') expect([o.metadata.name, o.metadata.namespace]).toEqual([o.metadata.name, NAMESPACE]);
    }
  });

  it('the schema check rejects a wrong field type, a missing required field and an unknown field', () => {
    const broken = (edit: (o: any) => void): Obj => {
      const o = structuredClone(signerSets[0]!);
      edit(o);
      return o;
    };
    expect(() => validate(broken((o) => (o.spec.replicas = 'one')))).toThrow(/replicas must be integer/);
    expect(() => validate(broken((o) => (o.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = 'yes')))).toThrow(/readOnlyRootFilesystem must be boolean/);
    expect(() => validate(broken((o) => delete o.spec.selector))).toThrow(/spec must have required property selector/);
    expect(() => validate(broken((o) => (o.spec.template.spec.containers[0].securityContxt = {})))).toThrow(/unknown field\(s\) \/spec\/template\/spec\/containers\/0\/securityContxt/);
    expect(() => validate(broken((o) => (o.sepc = o.spec)))).toThrow(/unknown field\(s\) \/sepc$/);
    expect(() => validate(broken((o) => (o.spec.volumeClaimTemplates[0].spec.storageClass = 'fast')))).toThrow(/unknown field\(s\) \/spec\/volumeClaimTemplates\/0\/spec\/storageClass$/);
    expect(() => validate(broken((o) => (o.kind = 'CronTab')))).toThrow(/no schema/);
    const policy = structuredClone(find('NetworkPolicy', 'keyquorum-signer-1'));
    policy.spec.egress[0].ports[0].protocol = 7;
    expect(() => validate(policy)).toThrow(/protocol must be string/);
  });

  it('runs every container from the image docker-compose.yml builds, with CLI commands and flags that exist', () => {
    const compose = parse(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { image: string }> };
    const image = compose.services.coordinator!.image;
    for (const w of workloads) {
      const role = w === coordinator ? 'coordinator' : 'signer';
      const cli = fs.readFileSync(path.join(REPO_ROOT, `packages/${role}/src/cli.ts`), 'utf8');
      for (const c of containersOf(w)) {
        expect([c.name, c.image, c.workingDir]).toEqual([c.name, image, '/app']);
        const script = c.command.join(' ');
        // Node runs the TypeScript sources through tsx, as in docker/entrypoint.sh; the rest are the CLI's.
        expect(script).toMatch(/node --import tsx packages\//);
        const args = script.replaceAll('node --import tsx ', '');
        const cliPath = /packages\/\w+\/src\/cli\.ts/.exec(script)![0];
        expect(cliPath).toBe(`packages/${role}/src/cli.ts`);
        const calls = [...script.matchAll(/cli\.ts"? (\w+)|\$cli (\w+)/g)].map((m) => m[1] ?? m[2]);
        expect(calls.length).toBeGreaterThan(0);
        for (const command of calls) expect([role, command, cli.includes(`keyquorum-${role} ${command} `)]).toEqual([role, command, true]);
        for (const [, flag] of args.matchAll(/ (--[a-z-]+)/g)) expect([role, flag, cli.includes(`${flag} `)]).toEqual([role, flag, true]);
      }
    }
  });

  it('runs one coordinator, not claimed HA: replicas 1 until the PostgreSQL registry and leader lease exist, replaced not rolled', () => {
    expect(coordinator.spec.replicas).toBe(1);
    expect(coordinator.spec.strategy).toEqual({ type: 'Recreate' });
    expect(readText('coordinator/coordinator.yaml')).toMatch(/NOT HA YET: 1 is the only correct value today/);
    const pdb = find('PodDisruptionBudget', 'keyquorum-coordinator');
    expect(selects(pdb.spec.selector.matchLabels, podLabels(coordinator))).toBe(true);
    expect(pdb.spec.maxUnavailable).toBe(1);
    // The database reference is in place but read by nothing: it must not look like a working setting.
    const env = containersOf(coordinator).flatMap((c) => c.env ?? []);
    expect(env).toEqual([{ name: 'KEYQUORUM_DATABASE_URL', valueFrom: { secretKeyRef: { name: 'keyquorum-coordinator-database', key: 'url', optional: true } } }]);
    const sourceDirs = fs.readdirSync(path.join(REPO_ROOT, 'packages')).map((p) => path.join(REPO_ROOT, 'packages', p, 'src'));
    const sources = spawnSync('grep', ['-rl', 'KEYQUORUM_DATABASE_URL', ...sourceDirs, path.join(REPO_ROOT, 'docker')], { encoding: 'utf8' });
    expect(sources.status, sources.stderr).toBe(1); // grep: 1 = no match, 2 = an error
    expect(sources.stdout, 'the product reads KEYQUORUM_DATABASE_URL now: update deploy/kubernetes and README "Production deployment"').toBe('');
  });

  it('serves clients only from ready coordinators, and lets signers reach one before it is ready', () => {
    const apiPort = port(configOf(coordinator, 'coordinator.json').listen);
    const api = podSpec(coordinator).containers[0].ports.find((p: any) => p.name === 'api');
    expect(api.containerPort).toBe(apiPort);
    for (const name of ['keyquorum-coordinator', 'keyquorum-coordinator-signers']) {
      const svc = find('Service', name);
      expect(selects(svc.spec.selector, podLabels(coordinator))).toBe(true);
      expect(svc.spec.ports).toEqual([{ name: 'api', port: apiPort, targetPort: 'api', protocol: 'TCP' }]);
      expect(svc.spec.publishNotReadyAddresses === true).toBe(name === 'keyquorum-coordinator-signers');
    }
    for (const w of signerSets) {
      expect(configOf(w, 'signer.json').coordinatorUrl).toBe(`ws://keyquorum-coordinator-signers.${NAMESPACE}.svc:${apiPort}/signer`);
      expect(selects(podLabels(w), podLabels(coordinator))).toBe(false);
    }
  });

  it('gives each signer a StatefulSet of one with its own volume and its own Secret, shared with no other pod', () => {
    const secretUsers = new Map<string, string[]>();
    for (const w of workloads) {
      for (const v of secretVolumes(w)) secretUsers.set(v.secret.secretName, [...(secretUsers.get(v.secret.secretName) ?? []), w.metadata.name]);
      for (const c of containersOf(w)) expect(c.envFrom).toBeUndefined();
    }
    for (const [id, w] of SIGNERS.map((s, i) => [s, signerSets[i]!] as const)) {
      expect(w.spec.replicas).toBe(1);
      expect(w.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
      expect(w.spec.volumeClaimTemplates.map((t: any) => [t.metadata.name, t.spec.accessModes])).toEqual([['data', ['ReadWriteOnce']]]);
      expect(podSpec(w).volumes.some((v: any) => v.name === 'data')).toBe(false);
      for (const c of containersOf(w)) expect(mountPathOf(c, 'data')).toBe('/data');
      expect(secretVolumes(w).map((v) => [v.secret.secretName, v.secret.defaultMode])).toEqual([[`keyquorum-${id}`, 0o440]]);
      expect(secretUsers.get(`keyquorum-${id}`)).toEqual([w.metadata.name]);
      expect(find('Secret', `keyquorum-${id}`).data).toEqual({ passphrase: '' });
      expect(readText(`${id}/kustomization.yaml`)).toMatch(new RegExp(`- passphrase=secrets/passphrase\\n`));
    }
    // The three signers' directories differ only in the signer's number (outside the list of all peers).
    const as1 = (id: string, file: string) => readText(`${id}/${file}`).replace(/"peers": \{[^}]*\}/, '').replaceAll(id, 'signer-1');
    for (const id of SIGNERS.slice(1)) for (const file of ['signer.yaml', 'kustomization.yaml']) expect(as1(id, file)).toBe(as1('signer-1', file));
    expect(secretVolumes(coordinator).map((v) => v.secret.secretName)).toEqual(['keyquorum-coordinator']);
    expect(secretUsers.get('keyquorum-coordinator')).toEqual(['keyquorum-coordinator']);
    // The passphrase files stay out of git and out of the Docker build context.
    expect(fs.readFileSync(path.join(REPO_ROOT, '.gitignore'), 'utf8')).toMatch(/^secrets\/$/m);
    expect(fs.readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')).toMatch(/^\*\*\/secrets$/m);
    expect(podSpec(coordinator).volumes.find((v: any) => v.name === 'data').persistentVolumeClaim.claimName).toBe(find('PersistentVolumeClaim', 'keyquorum-coordinator-data').metadata.name);
    // Distinct pod labels: no selector (Service, policy, budget) can pick up two signers by their instance.
    expect(new Set(workloads.map((w) => podLabels(w)['app.kubernetes.io/instance'])).size).toBe(workloads.length);
    for (const w of workloads) expect(selects(w.spec.selector.matchLabels, podLabels(w))).toBe(true);
  });

  it('locks every container down: non-root, read-only root, no capabilities or escalation, RuntimeDefault seccomp, requests and limits, no API token', () => {
    for (const w of workloads) {
      const pod = podSpec(w);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.hostNetwork ?? false).toBe(false);
      for (const c of containersOf(w)) {
        expect([w.metadata.name, c.name, c.securityContext]).toEqual([w.metadata.name, c.name, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } }]);
        for (const r of ['cpu', 'memory']) expect([c.name, r, typeof c.resources.requests[r], typeof c.resources.limits[r]]).toEqual([c.name, r, 'string', 'string']);
        // With a read-only root, the only writable places are the data volume and /tmp.
        const writable = c.volumeMounts.filter((m: any) => m.readOnly !== true).map((m: any) => m.mountPath);
        expect(writable.sort()).toEqual(['/data', '/tmp']);
        expect(pod.volumes.find((v: any) => v.name === c.volumeMounts.find((m: any) => m.mountPath === '/tmp').name).emptyDir).toBeDefined();
      }
    }
  });

  it('probes each daemon on the health endpoints it serves, on its listen port', () => {
    const signerHealth = fs.readFileSync(path.join(REPO_ROOT, 'packages/signer/src/health.ts'), 'utf8');
    for (const w of workloads) {
      const main = podSpec(w).containers[0];
      const isCoordinator = w === coordinator;
      const config = configOf(w, isCoordinator ? 'coordinator.json' : 'signer.json');
      const portName = isCoordinator ? 'api' : 'health';
      expect(main.ports.find((p: any) => p.name === portName).containerPort).toBe(port(config.listen));
      const [health, ready] = isCoordinator ? [ROUTES.health.path, ROUTES.ready.path] : ['/healthz', '/readyz'];
      if (!isCoordinator) for (const p of [health, ready]) expect(signerHealth).toContain(`path === '${p}'`);
      expect(main.startupProbe.httpGet).toEqual({ path: health, port: portName });
      expect(main.livenessProbe.httpGet).toEqual({ path: health, port: portName });
      expect(main.readinessProbe.httpGet).toEqual({ path: ready, port: portName });
    }
  });

  it('admits no inbound connection to a signer, and lets it out only to the coordinator API port and DNS', () => {
    const apiPort = port(configOf(coordinator, 'coordinator.json').listen);
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    for (const w of signerSets) {
      const covering = policies.filter((p) => selects(p.spec.podSelector.matchLabels, podLabels(w)));
      expect(covering.map((p) => p.metadata.name)).toEqual([w.metadata.name]);
      const spec = covering[0]!.spec;
      expect(spec.policyTypes).toEqual(expect.arrayContaining(['Ingress', 'Egress']));
      expect(spec.ingress ?? []).toEqual([]);
      expect(spec.podSelector.matchExpressions).toBeUndefined();
      expect(spec.egress).toHaveLength(2);
      for (const rule of spec.egress) {
        expect(rule.to.length).toBeGreaterThan(0);
        for (const peer of rule.to) {
          expect(peer.ipBlock).toBeUndefined();
          if (peer.namespaceSelector === undefined) {
            expect(selects(peer.podSelector.matchLabels, podLabels(coordinator))).toBe(true);
            expect(signerSets.some((s) => selects(peer.podSelector.matchLabels, podLabels(s)))).toBe(false);
            expect(rule.ports).toEqual([{ port: apiPort, protocol: 'TCP' }]);
          } else {
            expect(peer).toEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } });
            expect(rule.ports).toEqual([{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }]);
          }
        }
      }
    }
  });

  it('admits to the coordinator only its API port, from the signers and from labelled clients, and lets it out nowhere', () => {
    const apiPort = port(configOf(coordinator, 'coordinator.json').listen);
    const covering = objects.filter((o) => o.kind === 'NetworkPolicy' && selects(o.spec.podSelector.matchLabels, podLabels(coordinator)));
    expect(covering.map((p) => p.metadata.name)).toEqual(['keyquorum-coordinator']);
    const spec = covering[0]!.spec;
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(spec.egress).toEqual([]);
    expect(spec.ingress).toHaveLength(1);
    const [rule] = spec.ingress;
    expect(rule.ports).toEqual([{ port: apiPort, protocol: 'TCP' }]);
    expect(rule.from).toHaveLength(2);
    const [fromSigners, fromClients] = rule.from;
    for (const w of signerSets) expect(selects(fromSigners.podSelector.matchLabels, podLabels(w))).toBe(true);
    expect(fromSigners.namespaceSelector).toBeUndefined();
    expect(selects(fromSigners.podSelector.matchLabels, podLabels(coordinator))).toBe(false);
    expect(fromClients).toEqual({ namespaceSelector: { matchLabels: { 'keyquorum.io/clients': 'true' } }, podSelector: { matchLabels: { 'keyquorum.io/client': 'true' } } });
  });

  it("writes configs that the coordinator's and the signers' own validators accept once filled in, and refuse before", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-k8s-'));
    try {
      const keys = new Map<string, string>();
      const c = configOf(coordinator, 'coordinator.json');
      const main = podSpec(coordinator).containers[0];
      expect(c.passphraseFile).toBe(`${mountPathOf(main, 'passphrase')}/passphrase`);
      expect(c.dataDir.startsWith(`${mountPathOf(main, 'data')}/`)).toBe(true);
      expect(Object.keys(c.signers)).toEqual(SIGNERS);
      fs.writeFileSync(path.join(tmp, 'passphrase'), 'x');
      const write = (config: object) => {
        fs.writeFileSync(path.join(tmp, 'coordinator.json'), JSON.stringify({ ...config, passphraseFile: path.join(tmp, 'passphrase') }));
        return path.join(tmp, 'coordinator.json');
      };
      expect(() => loadConfigFile(write(c))).toThrow(/signers\.signer-1: expected 32 bytes of hex/);
      const loaded = loadConfigFile(write(filledIn(c, keys)));
      expect([loaded.host, loaded.port, loaded.dataDir]).toEqual(['0.0.0.0', port(c.listen), c.dataDir]);
      for (const [id, w] of SIGNERS.map((s, i) => [s, signerSets[i]!] as const)) {
        const s = configOf(w, 'signer.json');
        const signerMain = podSpec(w).containers[0];
        expect(s.passphraseFile).toBe(`${mountPathOf(signerMain, 'passphrase')}/passphrase`);
        expect(s.dataDir.startsWith(`${mountPathOf(signerMain, 'data')}/`)).toBe(true);
        expect(podSpec(w).initContainers[0].command.join(' ')).toContain(`init --data ${s.dataDir} --id ${id} --passphrase-file ${s.passphraseFile}`);
        expect(() => resolveSignerOptions(s)).toThrow(/expected 64 hex characters/);
        const resolved = resolveSignerOptions(filledIn(s, keys));
        expect([resolved.signerId, [...resolved.peers.keys()]]).toEqual([id, SIGNERS]);
        // Each signer pins the key the coordinator holds for it, and the same coordinator and client.
        expect(s.peers[id]).toBe(c.signers[id]);
        expect([s.coordinatorPublicKey, s.clients]).toEqual(['FILL_IN_COORDINATOR_PUBLIC_KEY', c.clients]);
      }
      expect(podSpec(coordinator).initContainers[0].command.join(' ')).toContain(`init --data ${c.dataDir} --passphrase-file ${c.passphraseFile}`);
      expect([...keys.keys()].sort()).toEqual(['FILL_IN_ADMIN_CLIENT_PUBLIC_KEY', 'FILL_IN_COORDINATOR_PUBLIC_KEY', ...SIGNERS.map((s) => `FILL_IN_${s.replace('-', '_').toUpperCase()}_PUBLIC_KEY`)].sort());
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!kubectl)('builds with `kubectl kustomize` to the same objects, and not without the passphrase files', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-kustomize-'));
    try {
      fs.cpSync(DIR, tmp, { recursive: true, filter: (src) => !src.split(path.sep).includes('secrets') });
      const build = () => spawnSync('kubectl', ['kustomize', tmp], { encoding: 'utf8' });
      const without = build();
      expect(without.status).not.toBe(0);
      expect(without.stderr).toMatch(/secrets\/passphrase/);
      for (const node of ['coordinator', ...SIGNERS]) {
        fs.mkdirSync(path.join(tmp, node, 'secrets'));
        fs.writeFileSync(path.join(tmp, node, 'secrets', 'passphrase'), `${node} passphrase`);
      }
      const built = build();
      expect(built.status, built.stderr).toBe(0);
      const docs = parseAllDocuments(built.stdout, { version: '1.1' }).map((d) => d.toJS() as Obj);
      const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      expect(docs.map(key).sort()).toEqual(objects.map(key).sort());
      for (const o of docs) {
        if (o.kind === 'Secret') expect(Buffer.from(o.data.passphrase, 'base64').toString()).toBe(`${o.metadata.name.replace('keyquorum-', '')} passphrase`);
        else expect(o).toEqual(objects.find((x) => key(x) === key(o)));
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
