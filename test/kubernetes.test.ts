/**
 * deploy/kubernetes, checked without a cluster: every manifest is parsed with `yaml`
 * and each object validated against the official Kubernetes OpenAPI schema of its
 * kind (the `kubernetes-models` validators, strict: a field the schema does not know
 * is an error too, as kubectl's server-side field validation makes it); then the
 * deployment's invariants are asserted: each signer's volume and Secret are its own,
 * signers take no inbound connection and reach only the coordinators and DNS, the
 * coordinators run two replicas on the operator's PostgreSQL (stable names for
 * advertiseUrl and the signers' coordinatorUrls, apart on nodes, one always up, out
 * only to PostgreSQL and DNS), every container is locked down, and each node's config
 * is accepted by that daemon's own config validator.
 * `kubectl kustomize` builds the same objects where kubectl is present.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ROUTES, generateIdentity } from '@keyquorum/protocol';
import { loadConfigFile, resolveOptions } from '@keyquorum/coordinator';
import { resolveSignerOptions } from '@keyquorum/signer';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ENTRY_POINTS } from '../scripts/build.ts';
import { REPO_ROOT } from './support/process.ts';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };
type Labels = Record<string, string>;

const DIR = path.join(REPO_ROOT, 'deploy/kubernetes');
const SIGNERS = ['signer-1', 'signer-2', 'signer-3'];
const NAMESPACE = 'keyquorum';
const COORDINATORS = 2;
const HEADLESS = 'keyquorum-coordinator-headless';
const COORDINATOR_SECRETS = { 'keyquorum-coordinator': 'passphrase', 'keyquorum-coordinator-identity': 'identity.sealed', 'keyquorum-coordinator-database': 'url' };

/** The schema validator of each kind used here; any other kind fails the test. */
const MODELS: Record<string, { prototype: { validate(): void } }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
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
const coordinator = find('StatefulSet', 'keyquorum-coordinator');
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
/** The `--advertise-url` of the coordinator's main container, as Kubernetes expands it in replica `i` (a StatefulSet's pods are <name>-<ordinal>). */
function advertiseUrlOf(i: number): string {
  const main = podSpec(coordinator).containers[0];
  const command: string[] = main.command;
  const value = command[command.indexOf('--advertise-url') + 1]!;
  const vars = [...value.matchAll(/\$\((\w+)\)/g)].map((m) => m[1]);
  expect(vars).toEqual(['POD_NAME']);
  expect(main.env.find((e: any) => e.name === 'POD_NAME').valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
  return value.replace('$(POD_NAME)', `${coordinator.metadata.name}-${i}`);
}
/** The URL a follower names in its 4010 close while replica `i` leads (leadership.ts closeReason: advertiseUrl as ws(s), SIGNER_PATH). */
const signerUrlOf = (i: number) => `${advertiseUrlOf(i).replace(/^http/, 'ws')}/signer`;

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
  it('holds a namespace, the coordinators and three signers, each object valid against the Kubernetes schema of its kind', () => {
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(names).toEqual(
      [
        'Namespace/keyquorum',
        ...['ConfigMap/keyquorum-coordinator-config', 'StatefulSet/keyquorum-coordinator', ...Object.keys(COORDINATOR_SECRETS).map((name) => `Secret/${name}`)],
        ...['Service/keyquorum-coordinator', `Service/${HEADLESS}`, 'PodDisruptionBudget/keyquorum-coordinator', 'NetworkPolicy/keyquorum-coordinator'],
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
    const affinity = structuredClone(coordinator);
    affinity.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologykey = 'kubernetes.io/hostname';
    expect(() => validate(affinity)).toThrow(/unknown field\(s\) \/spec\/template\/spec\/affinity\/podAntiAffinity\/requiredDuringSchedulingIgnoredDuringExecution\/0\/topologykey$/);
    const service = structuredClone(find('Service', HEADLESS));
    service.spec.publishNotReadyAdresses = true;
    expect(() => validate(service)).toThrow(/unknown field\(s\) \/spec\/publishNotReadyAdresses$/);
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
        // Node runs the role's bundle that the image builds (npm run build), as docker/entrypoint.sh does, not tsx; the rest are the CLI's.
        expect(script).toMatch(/node --enable-source-maps dist\//);
        expect(script).not.toMatch(/tsx/);
        const args = script.replaceAll('node --enable-source-maps ', '');
        const bundle = /dist\/([\w-]+)\.mjs/.exec(script)![1]!;
        expect([bundle, ENTRY_POINTS[bundle]]).toEqual([`keyquorum-${role}`, `packages/${role}/src/cli.ts`]);
        const calls = [...script.matchAll(/\.mjs"? (\w+)|\$cli (\w+)/g)].map((m) => m[1] ?? m[2]);
        expect(calls.length).toBeGreaterThan(0);
        for (const command of calls) expect([role, command, cli.includes(`keyquorum-${role} ${command} `)]).toEqual([role, command, true]);
        for (const [, flag] of args.matchAll(/ (--[a-z-]+)/g)) expect([role, flag, cli.includes(`${flag} `)]).toEqual([role, flag, true]);
      }
    }
  });

  it('runs two coordinators on the operator\'s PostgreSQL: stable names, never on one node, one always up, no volume', () => {
    expect(coordinator.spec.replicas).toBe(COORDINATORS);
    expect(coordinator.spec.podManagementPolicy).toBe('Parallel');
    expect(coordinator.spec.updateStrategy).toEqual({ type: 'RollingUpdate' });
    expect(coordinator.spec.serviceName).toBe(HEADLESS);
    expect(readText('coordinator/coordinator.yaml')).not.toMatch(/NOT HA/);
    // The state is in PostgreSQL and the identity in a Secret: no volume claim, so no pod's state is its own.
    expect(coordinator.spec.volumeClaimTemplates).toBeUndefined();
    expect(podSpec(coordinator).volumes.filter((v: any) => v.persistentVolumeClaim !== undefined)).toEqual([]);
    expect(objects.filter((o) => o.kind === 'PersistentVolumeClaim')).toEqual([]);
    // Required anti-affinity on the node, selecting exactly the coordinators.
    const anti = podSpec(coordinator).affinity.podAntiAffinity;
    expect(anti.preferredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(anti.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    const [term] = anti.requiredDuringSchedulingIgnoredDuringExecution;
    expect(term.topologyKey).toBe('kubernetes.io/hostname');
    expect(selects(term.labelSelector.matchLabels, podLabels(coordinator))).toBe(true);
    for (const w of signerSets) expect(selects(term.labelSelector.matchLabels, podLabels(w))).toBe(false);
    const pdb = find('PodDisruptionBudget', 'keyquorum-coordinator');
    expect(selects(pdb.spec.selector.matchLabels, podLabels(coordinator))).toBe(true);
    expect([pdb.spec.minAvailable, pdb.spec.maxUnavailable]).toEqual([1, undefined]);
    expect(pdb.spec.minAvailable).toBeLessThan(COORDINATORS);
    // Each replica advertises its own stable name under the headless Service.
    const adverts = Array.from({ length: COORDINATORS }, (_, i) => advertiseUrlOf(i));
    const apiPort = port(configOf(coordinator, 'coordinator.json').listen);
    expect(adverts).toEqual(Array.from({ length: COORDINATORS }, (_, i) => `http://keyquorum-coordinator-${i}.${HEADLESS}.${NAMESPACE}.svc:${apiPort}`));
    // The only environment: the pod's name; the connection string is a mounted file, not a variable.
    expect(containersOf(coordinator).flatMap((c) => c.env ?? [])).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
  });

  it('serves clients from either ready coordinator, and gives signers every replica by name, ready or not', () => {
    const apiPort = port(configOf(coordinator, 'coordinator.json').listen);
    const api = podSpec(coordinator).containers[0].ports.find((p: any) => p.name === 'api');
    expect(api.containerPort).toBe(apiPort);
    for (const name of ['keyquorum-coordinator', HEADLESS]) {
      const svc = find('Service', name);
      expect(selects(svc.spec.selector, podLabels(coordinator))).toBe(true);
      expect(svc.spec.ports).toEqual([{ name: 'api', port: apiPort, targetPort: 'api', protocol: 'TCP' }]);
      // Clients: ready pods only (a follower is ready while some coordinator leads, and redirects writes to it).
      expect(svc.spec.publishNotReadyAddresses === true).toBe(name === HEADLESS);
      expect(svc.spec.clusterIP === 'None').toBe(name === HEADLESS);
    }
    for (const w of signerSets) {
      // Each replica's signer URL, which is also what a follower names (4010) while that replica leads.
      const urls = Array.from({ length: COORDINATORS }, (_, i) => signerUrlOf(i));
      expect(configOf(w, 'signer.json').coordinatorUrls).toEqual(urls);
      expect(configOf(w, 'signer.json').coordinatorUrl).toBeUndefined();
      // A close reason is at most 123 bytes (RFC 6455 section 5.5): a longer URL would be sent empty.
      for (const u of urls) expect(Buffer.byteLength(u)).toBeLessThanOrEqual(123);
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
    // The coordinators' Secrets: the passphrase, the one sealed identity both replicas sign with, the connection string.
    expect(secretVolumes(coordinator).map((v) => [v.secret.secretName, v.secret.defaultMode]).sort()).toEqual(Object.keys(COORDINATOR_SECRETS).map((name) => [name, 0o440]).sort());
    for (const [name, key] of Object.entries(COORDINATOR_SECRETS)) {
      expect(secretUsers.get(name)).toEqual(['keyquorum-coordinator']);
      expect(find('Secret', name).data).toEqual({ [key]: '' });
    }
    // The passphrase files stay out of git and out of the Docker build context.
    expect(fs.readFileSync(path.join(REPO_ROOT, '.gitignore'), 'utf8')).toMatch(/^secrets\/$/m);
    expect(fs.readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')).toMatch(/^\*\*\/secrets$/m);
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
        // With a read-only root, the only writable places are a signer's data volume and /tmp (the coordinators keep nothing on disk).
        const writable = c.volumeMounts.filter((m: any) => m.readOnly !== true).map((m: any) => m.mountPath);
        expect(writable.sort()).toEqual(w === coordinator ? ['/tmp'] : ['/data', '/tmp']);
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

  it('admits no inbound connection to a signer, and lets it out only to the coordinators\' API port and DNS', () => {
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

  it('admits to the coordinators only their API port, from the signers and from labelled clients, and lets them out only to PostgreSQL and DNS', () => {
    const apiPort = port(configOf(coordinator, 'coordinator.json').listen);
    const covering = objects.filter((o) => o.kind === 'NetworkPolicy' && selects(o.spec.podSelector.matchLabels, podLabels(coordinator)));
    expect(covering.map((p) => p.metadata.name)).toEqual(['keyquorum-coordinator']);
    const spec = covering[0]!.spec;
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(spec.podSelector.matchExpressions).toBeUndefined();
    expect(spec.ingress).toHaveLength(1);
    const [rule] = spec.ingress;
    expect(rule.ports).toEqual([{ port: apiPort, protocol: 'TCP' }]);
    expect(rule.from).toHaveLength(2);
    const [fromSigners, fromClients] = rule.from;
    for (const w of signerSets) expect(selects(fromSigners.podSelector.matchLabels, podLabels(w))).toBe(true);
    expect(fromSigners.namespaceSelector).toBeUndefined();
    expect(selects(fromSigners.podSelector.matchLabels, podLabels(coordinator))).toBe(false);
    expect(fromClients).toEqual({ namespaceSelector: { matchLabels: { 'keyquorum.io/clients': 'true' } }, podSelector: { matchLabels: { 'keyquorum.io/client': 'true' } } });
    // Out: the operator's PostgreSQL (pods and namespace they label), and DNS; nothing else, no signer, no address block.
    expect(spec.egress).toEqual([
      { to: [{ namespaceSelector: { matchLabels: { 'keyquorum.io/database': 'true' } }, podSelector: { matchLabels: { 'keyquorum.io/database': 'true' } } }], ports: [{ port: 5432, protocol: 'TCP' }] },
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
    ]);
    for (const w of workloads) expect(selects(spec.egress[0].to[0].podSelector.matchLabels, podLabels(w))).toBe(false);
  });

  it("writes configs that the coordinator's and the signers' own validators accept once filled in, and refuse before", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-k8s-'));
    try {
      const keys = new Map<string, string>();
      const c = configOf(coordinator, 'coordinator.json');
      const main = podSpec(coordinator).containers[0];
      // Each file the config names is the key of the Secret mounted there; the identity Secret is the data directory.
      const secretAt = (field: string, volume: string, key: string) => {
        expect(c[field]).toBe(`${mountPathOf(main, volume)}/${key}`);
        expect(Object.keys(find('Secret', podSpec(coordinator).volumes.find((v: any) => v.name === volume).secret.secretName).data)).toEqual([key]);
      };
      secretAt('passphraseFile', 'passphrase', 'passphrase');
      secretAt('databaseFile', 'database', 'url');
      expect(c.dataDir).toBe(mountPathOf(main, 'identity'));
      expect(find('Secret', 'keyquorum-coordinator-identity').data).toEqual({ 'identity.sealed': '' });
      expect(c.database).toBeUndefined();
      expect(Object.keys(c.signers)).toEqual(SIGNERS);
      fs.writeFileSync(path.join(tmp, 'passphrase'), 'x');
      const database = 'postgres://keyquorum:pw@postgres.db.svc:5432/keyquorum?sslmode=verify-full';
      fs.writeFileSync(path.join(tmp, 'url'), `${database}\n`);
      const write = (config: object) => {
        fs.writeFileSync(path.join(tmp, 'coordinator.json'), JSON.stringify({ ...config, passphraseFile: path.join(tmp, 'passphrase'), databaseFile: path.join(tmp, 'url') }));
        return path.join(tmp, 'coordinator.json');
      };
      expect(() => loadConfigFile(write(c), {}, { advertiseUrl: advertiseUrlOf(0) })).toThrow(/signers\.signer-1: expected 32 bytes of hex/);
      // One file for both replicas: without its --advertise-url, a replica's config is refused.
      expect(() => loadConfigFile(write(filledIn(c, keys)), {})).toThrow(/advertiseUrl: expected/);
      for (let i = 0; i < COORDINATORS; i++) {
        const loaded = loadConfigFile(write(filledIn(c, keys)), {}, { advertiseUrl: advertiseUrlOf(i) });
        expect([loaded.host, loaded.port, loaded.dataDir, loaded.database]).toEqual(['0.0.0.0', port(c.listen), c.dataDir, database]);
        expect(resolveOptions(loaded).ha).toMatchObject({ database, advertiseUrl: advertiseUrlOf(i), leaseMs: 5000 });
      }
      for (const [id, w] of SIGNERS.map((s, i) => [s, signerSets[i]!] as const)) {
        const s = configOf(w, 'signer.json');
        const signerMain = podSpec(w).containers[0];
        expect(s.passphraseFile).toBe(`${mountPathOf(signerMain, 'passphrase')}/passphrase`);
        expect(s.dataDir.startsWith(`${mountPathOf(signerMain, 'data')}/`)).toBe(true);
        expect(podSpec(w).initContainers[0].command.join(' ')).toContain(`init --data ${s.dataDir} --id ${id} --passphrase-file ${s.passphraseFile}`);
        expect(() => resolveSignerOptions(s)).toThrow(/expected 64 hex characters/);
        const resolved = resolveSignerOptions(filledIn(s, keys));
        expect([resolved.signerId, [...resolved.peers.keys()]]).toEqual([id, SIGNERS]);
        // The signer follows a 4010 to a URL equal, once parsed, to one of these: each replica's.
        expect(resolved.coordinatorUrls).toEqual(Array.from({ length: COORDINATORS }, (_, i) => new URL(signerUrlOf(i)).toString()));
        // Each signer pins the key the coordinator holds for it, and the same coordinator and client.
        expect(s.peers[id]).toBe(c.signers[id]);
        expect([s.coordinatorPublicKey, s.clients]).toEqual(['FILL_IN_COORDINATOR_PUBLIC_KEY', c.clients]);
      }
      // The coordinators' init unseals the identity from its Secret (made once by the operator) and prints its key.
      expect(podSpec(coordinator).initContainers[0].command.join(' ')).toContain(`pubkey --data ${c.dataDir} --passphrase-file ${c.passphraseFile}`);
      expect([...keys.keys()].sort()).toEqual(['FILL_IN_ADMIN_CLIENT_PUBLIC_KEY', 'FILL_IN_COORDINATOR_PUBLIC_KEY', ...SIGNERS.map((s) => `FILL_IN_${s.replace('-', '_').toUpperCase()}_PUBLIC_KEY`)].sort());
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!kubectl)('builds with `kubectl kustomize` to the same objects, and not without the secret files', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-kustomize-'));
    try {
      fs.cpSync(DIR, tmp, { recursive: true, filter: (src) => !src.split(path.sep).includes('secrets') });
      const build = () => spawnSync('kubectl', ['kustomize', tmp], { encoding: 'utf8' });
      const without = build();
      expect(without.status).not.toBe(0);
      expect(without.stderr).toMatch(/secrets\//);
      // Every file a secretGenerator names, with content naming its Secret and key.
      for (const node of ['coordinator', ...SIGNERS]) {
        const k = parse(readText(path.join(node, 'kustomization.yaml'))) as { secretGenerator: Array<{ name: string; files: string[] }> };
        for (const g of k.secretGenerator) {
          for (const f of g.files) {
            const [key, file] = f.split('=') as [string, string];
            expect(file.startsWith('secrets/')).toBe(true);
            fs.mkdirSync(path.dirname(path.join(tmp, node, file)), { recursive: true });
            fs.writeFileSync(path.join(tmp, node, file), `${g.name} ${key}`);
          }
        }
      }
      const built = build();
      expect(built.status, built.stderr).toBe(0);
      const docs = parseAllDocuments(built.stdout, { version: '1.1' }).map((d) => d.toJS() as Obj);
      const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      expect(docs.map(key).sort()).toEqual(objects.map(key).sort());
      for (const o of docs) {
        if (o.kind === 'Secret') {
          expect(Object.keys(o.data)).toEqual(Object.keys(find('Secret', o.metadata.name).data));
          for (const [k, v] of Object.entries(o.data)) expect(Buffer.from(v as string, 'base64').toString()).toBe(`${o.metadata.name} ${k}`);
        } else expect(o).toEqual(objects.find((x) => key(x) === key(o)));
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
