/**
 * Policy handover across real processes (docs/governance.md "Handover"): a 2-of-3 key
 * on signer-1..3 gets a policy (signatures need an approval) over the HTTP API; a
 * reshare onto signer-2..4 then runs (the real coordinator puts its current policy in
 * the START, which every old holder checks against its own: it would refuse another),
 * and the new member signer-4 records that policy when its share becomes active.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { generateIdentity, parsePolicy, policyDigest, policyRequestDigest, requestToJson, signClientRequest, signHttpRequest } from '@keyquorum/protocol';
import { KEYSTORE_DB_FILE } from '@keyquorum/signer';
import { Cluster } from './support/cluster.ts';
import { ed25519Approver } from './support/passkey.ts';

const KEY = 'handover';
const alice = generateIdentity();

describe('policy handover across real processes', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({ signers: 4, initInProcess: true });
  }, 120_000);
  afterAll(async () => cluster?.stop());

  /** signer `id`'s policy records of the key (version:digest), read beside the running daemon. */
  function records(id: string): string[] {
    const db = new Database(path.join(cluster.dataDir(id), KEYSTORE_DB_FILE), { readonly: true, fileMustExist: true });
    try {
      return db.prepare<[string], { version: number; digest: Uint8Array }>('SELECT version, digest FROM key_policies WHERE key_id = ? ORDER BY version').all(KEY).map((r) => `${r.version}:${bytesToHex(r.digest)}`);
    } finally {
      db.close();
    }
  }

  it('a reshare of a governed key hands its policy to the new member', async () => {
    await cluster.client.createKey({ keyId: KEY, suite: 'frost-ed25519', threshold: 2, signers: ['signer-1', 'signer-2', 'signer-3'] });
    const json = { format: 1, version: 1, approvers: [ed25519Approver('alice', alice)], approvals: { sign: 1 } };
    const policy = parsePolicy(json);
    const request = signClientRequest(cluster.admin, { op: 'policy', keyId: KEY, digest: policyRequestDigest({ keyId: KEY, policy }) });
    const target = `/v1/keys/${KEY}/policy`;
    const body = JSON.stringify({ policy: json, request: requestToJson(request) });
    const res = await fetch(`${cluster.url}${target}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...signHttpRequest(cluster.admin, { method: 'POST', target, body: new TextEncoder().encode(body) }) },
    });
    const answer = (await res.json()) as { delivered?: string[] };
    expect(res.status, JSON.stringify(answer)).toBe(200);
    expect([...(answer.delivered ?? [])].sort()).toEqual(['signer-1', 'signer-2', 'signer-3']);
    const expected = `1:${bytesToHex(policyDigest(policy))}`;
    expect(records('signer-4')).toEqual([]);

    const key = await cluster.client.reshare(KEY, { signers: ['signer-2', 'signer-3', 'signer-4'], threshold: 2 });
    expect(key).toMatchObject({ epoch: 1, signers: ['signer-2', 'signer-3', 'signer-4'] });
    for (const id of ['signer-2', 'signer-3', 'signer-4']) expect(records(id), id).toEqual([expected]);
  });
});
