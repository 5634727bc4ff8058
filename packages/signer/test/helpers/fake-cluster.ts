/**
 * The set-up most signer tests share: signer daemons (`startCluster`) around a
 * FakeCoordinator, torn down after each test (or, with `scope: 'file'`, after the
 * file): daemons the test started beside the cluster first, then the cluster's, then
 * the coordinator, then the temporary data dirs.
 */
import { afterAll, afterEach } from 'vitest';
import type { SignerDaemon } from '../../src/index.ts';
import { removeTempDirs, startCluster, type Cluster, type ClusterOptions } from './cluster.ts';
import { FakeCoordinator } from './fake-coordinator.ts';
import { patient } from './state.ts';

export interface FakeClusterStart extends ClusterOptions {
  /** Wrap the coordinator with `patient`: its `next` waits this long by default. */
  patienceMs?: number;
}

export interface FakeCluster {
  /** Starts a FakeCoordinator and signers `ids` connected to it (once per test, or per file). */
  start(ids: string[], opts?: FakeClusterStart): Promise<{ c: FakeCoordinator; cl: Cluster }>;
  /** The running coordinator and cluster (throws before `start`). */
  readonly c: FakeCoordinator;
  readonly cl: Cluster;
  /** Daemons the test started beside the cluster: stopped first at teardown (a test may stop and remove one itself). */
  readonly extra: SignerDaemon[];
}

/** Registers the teardown hook (afterEach, or afterAll for `scope: 'file'`) and returns the handle to start the cluster with. */
export function useFakeCluster(o: { scope?: 'test' | 'file' } = {}): FakeCluster {
  let coordinator: FakeCoordinator | undefined;
  let cluster: Cluster | undefined;
  const extra: SignerDaemon[] = [];
  const teardown = async (): Promise<void> => {
    for (const d of extra.splice(0)) await d.stop();
    await cluster?.stop();
    await coordinator?.close();
    cluster = undefined;
    coordinator = undefined;
    removeTempDirs();
  };
  if (o.scope === 'file') afterAll(teardown);
  else afterEach(teardown);
  return {
    async start(ids, { patienceMs, ...opts } = {}) {
      if (coordinator !== undefined) throw new Error('useFakeCluster: already started');
      const started = await FakeCoordinator.start();
      coordinator = patienceMs === undefined ? started : patient(started, patienceMs);
      cluster = await startCluster(coordinator, ids, opts);
      return { c: coordinator, cl: cluster };
    },
    get c() {
      if (coordinator === undefined) throw new Error('useFakeCluster: not started');
      return coordinator;
    },
    get cl() {
      if (cluster === undefined) throw new Error('useFakeCluster: not started');
      return cluster;
    },
    extra,
  };
}
