/**
 * `npm run demo`: the whole key lifecycle against a real cluster, through the SDK
 * over HTTP, printing each step. It uses the cluster `npm start` (`keyquorum dev`)
 * runs in this directory; when none answers, it starts its own in a temporary
 * directory and stops it at the end. For each suite: create a key by DKG, derive a
 * deposit key, sign for it, verify with the chain's standard verifier, refresh (same
 * key and address), sign again, retire, show that signing is refused, show the audit
 * trail.
 */
import { createHash, createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { KeyquorumClient, isClientError } from '../src/index.ts';
import { DEV_DIR, DevCluster } from '../src/dev.ts';
import { readClientKeyFile, readClusterFile } from '../src/discovery.ts';

const SUITES = ['frost-secp256k1-tr', 'frost-ed25519', 'ecdsa-secp256k1'] as const;
const PATH = 'm/44/0/7';
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const step = (n: string, text: string) => console.log(`  ${n.padEnd(5)} ${text}`);

/**
 * BIP340 with noble; Ed25519 with OpenSSL (node:crypto); ECDSA with noble over the digest
 * (low s), and the recovery id must recover the public key, as an EVM chain needs.
 */
function standardVerify(scheme: string, signature: string, message: Uint8Array, publicKey: string, recoveryId?: number): boolean {
  if (scheme === 'frost-secp256k1-tr') return schnorr.verify(hexToBytes(signature), message, hexToBytes(publicKey));
  if (scheme === 'ecdsa-secp256k1') {
    if (!secp256k1.verify(hexToBytes(signature), message, hexToBytes(publicKey), { prehash: false, lowS: true }) || recoveryId === undefined) return false;
    const recovered = secp256k1.Signature.fromBytes(hexToBytes(signature)).addRecoveryBit(recoveryId).recoverPublicKey(message).toBytes(true);
    return Buffer.from(recovered).toString('hex') === publicKey;
  }
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(publicKey, 'hex')]), format: 'der', type: 'spki' });
  return nodeVerify(null, message, key, Buffer.from(signature, 'hex'));
}

async function running(): Promise<KeyquorumClient | undefined> {
  const dir = path.resolve(DEV_DIR);
  const cluster = readClusterFile(dir);
  if (cluster === undefined) return undefined;
  const client = new KeyquorumClient({ url: cluster.url, clientKey: readClientKeyFile(path.join(dir, cluster.keyFile)).identity });
  try {
    return (await client.health()) ? client : undefined;
  } catch {
    return undefined;
  }
}

async function lifecycle(client: KeyquorumClient, scheme: (typeof SUITES)[number]): Promise<void> {
  const keyId = `demo-${scheme}-${randomBytes(3).toString('hex')}`;
  console.log(`\n${scheme}`);
  const key = await client.createKey({ keyId, suite: scheme, threshold: 2 });
  step('1', `DKG: key ${key.id}, ${key.threshold}-of-${key.signers.length} (${key.signers.join(', ')}), public key ${key.publicKey}`);
  step('', 'no signer, and not the coordinator, ever held the private key');

  const deposit = await client.deriveKey(keyId, PATH);
  step('2', `deposit key at ${PATH}: ${deposit.publicKey}`);

  const message = new Uint8Array(createHash('sha256').update(`withdrawal #1 from ${keyId}`).digest());
  const sig = await client.sign(keyId, { message, path: PATH });
  step('3', `signed a 32-byte digest with the deposit key: ${sig.signature.slice(0, 32)}…`);
  const ok = standardVerify(scheme, sig.signature, message, deposit.publicKey, sig.recoveryId);
  const verifier = scheme === 'frost-ed25519' ? 'Ed25519 (OpenSSL)' : scheme === 'ecdsa-secp256k1' ? 'ECDSA (noble, low s) + recovery id' : 'BIP340 (noble)';
  step('4', `standard ${verifier} verifier: ${ok ? 'valid' : 'INVALID'}`);
  if (!ok) throw new Error('signature did not verify');

  const refreshed = await client.refresh(keyId);
  const again = await client.deriveKey(keyId, PATH);
  step('5', `refresh: epoch ${key.epoch} -> ${refreshed.epoch}, new shares; public key ${refreshed.publicKey === key.publicKey ? 'unchanged' : 'CHANGED'}, deposit key ${again.publicKey === deposit.publicKey ? 'unchanged' : 'CHANGED'}`);

  const message2 = new Uint8Array(createHash('sha256').update(`withdrawal #2 from ${keyId}`).digest());
  const sig2 = await client.sign(keyId, { message: message2, path: PATH });
  step('6', `signed again with the refreshed shares: ${standardVerify(scheme, sig2.signature, message2, deposit.publicKey, sig2.recoveryId) ? 'valid' : 'INVALID'}`);

  const retired = await client.retire(keyId);
  step('7', `retired: ${retired.attestations.length} signers attested destroying their shares (${retired.attestations.map((a) => a.signer).join(', ')})`);
  try {
    await client.sign(keyId, { message });
    throw new Error('a retired key signed');
  } catch (e) {
    if (!isClientError(e)) throw e;
    step('8', `signing refused: ${e.code} (HTTP ${e.status})`);
  }

  const audit = await client.audit(keyId);
  step('9', `audit trail (${audit.entries.length} entries, chain ${audit.verification.ok ? 'verified' : 'BROKEN'}):`);
  for (const e of audit.entries) {
    const detail = [typeof e.data.signer === 'string' ? e.data.signer : '', typeof e.data.epoch === 'number' ? `epoch ${e.data.epoch}` : ''].filter(Boolean).join(', ');
    console.log(`          #${String(e.seq).padEnd(4)} ${e.event.padEnd(15)} ${detail}`);
  }
}

async function main(): Promise<void> {
  let client = await running();
  let own: DevCluster | undefined;
  let ownDir: string | undefined;
  if (client === undefined) {
    ownDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-demo-'));
    console.log(`No cluster answers in ./${DEV_DIR}; starting one (2-of-3) in ${ownDir}:`);
    own = new DevCluster({ dataDir: ownDir, signers: 3, threshold: 2, port: 0, progress: (l) => console.log(l) });
    await own.start();
    const cluster = readClusterFile(ownDir)!;
    client = new KeyquorumClient({ url: cluster.url, clientKey: readClientKeyFile(path.join(ownDir, cluster.keyFile)).identity });
  } else {
    console.log(`Using the cluster running from ./${DEV_DIR}.`);
  }
  try {
    const signers = await client.listSigners();
    console.log(`Signers: ${signers.map((s) => `${s.id} (${s.connected ? 'connected' : 'offline'})`).join(', ')}`);
    for (const scheme of SUITES) await lifecycle(client, scheme);
    console.log('\nDone: every signature above was checked by the standard verifier of its chain.');
  } finally {
    await own?.stop();
    if (ownDir !== undefined) fs.rmSync(ownDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
