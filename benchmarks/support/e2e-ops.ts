/**
 * Point-to-point encryption per message: encryptTo + decryptFrom (a 256-byte payload,
 * one sender, one recipient, a fresh ephemeral key per message), and the X25519
 * operations underneath on each backend. Prints the median microseconds per call over
 * several timed batches.
 *
 *   npx tsx benchmarks/support/e2e-ops.ts            # this tree
 *   KQ_ROOT=/path/to/other/checkout npx tsx benchmarks/support/e2e-ops.ts
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { timeOp } from './time-op.ts';

const root = process.env.KQ_ROOT ?? resolve(import.meta.dirname, '../..');
const load = (p: string) => import(pathToFileURL(resolve(root, p)).href);
const e2e = await load('packages/protocol/src/e2e.ts');
const env = await load('packages/protocol/src/envelope.ts');
const id = await load('packages/protocol/src/identity.ts');
const crypto = await import('@keyquorum/crypto');
await crypto.x25519Ready;

const time = (name: string, fn: (i: number) => unknown, batch = 40, batches = 9) => timeOp(name, fn, batch, batches);

const alice = id.generateIdentity();
const bob = id.generateIdentity();
const sessionId = new Uint8Array(randomBytes(32));
const header = { v: 1, kind: 'dkg', suite: 'frost-ed25519', sessionId, round: 2, from: 'alice', to: 'bob' };
const plaintext = new Uint8Array(randomBytes(256));
const sealed = Array.from({ length: 40 }, () => {
  const { payload, enc } = e2e.encryptTo(alice, bob.publicKey, header, plaintext);
  return env.sealEnvelope(alice, header, payload, { enc });
});

process.stdout.write(`tree ${root} (X25519 backend of this tree's @keyquorum/crypto: ${crypto.x25519Backend().name})\n`);
time('encryptTo', () => e2e.encryptTo(alice, bob.publicKey, header, plaintext));
time('decryptFrom', (i) => e2e.decryptFrom(bob, alice.publicKey, sealed[i % sealed.length]));
time('encryptTo + decryptFrom (one message)', () => {
  const { payload, enc } = e2e.encryptTo(alice, bob.publicKey, header, plaintext);
  e2e.decryptFrom(bob, alice.publicKey, { header, payload, enc, sig: new Uint8Array(64) });
});

const sodium = await crypto.sodiumX25519();
const ks = Array.from({ length: 40 }, () => new Uint8Array(randomBytes(32)));
const us = ks.map((k) => crypto.nobleX25519.publicKey(k));
for (const b of [crypto.nobleX25519, sodium].filter((x) => x !== undefined)) {
  time(`X25519 public key (${b.name})`, (i) => b.publicKey(ks[i % 40]!));
  time(`X25519 shared secret (${b.name})`, (i) => b.sharedSecret(ks[i % 40]!, us[(i + 1) % 40]!));
}
