/**
 * The solana chain module (docs/transactions.md §1) against messages built by a second
 * implementation (@solana/web3.js 1.x), signed by a real 2-of-3 FROST Ed25519 key in
 * process, and finalised transactions checked by web3.js (legacy `verifySignatures`)
 * and node:crypto (v0).
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  aggregate,
  commit,
  deriveChild,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  signShare,
  type DkgRound2Package,
  type KeyShare,
  type PublicKeyPackage,
} from '@keyquorum/crypto';
import {
  AddressLookupTableAccount,
  ComputeBudgetProgram,
  Ed25519Program,
  Keypair,
  PublicKey,
  Secp256k1Program,
  SystemProgram,
  Transaction,
  TransactionInstruction,
  VersionedTransaction,
} from '@solana/web3.js';
import { getBase58Encoder } from '@solana/kit';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  randomAddress,
  solanaMessage,
  solanaTransactionVerifies,
  solanaTransferMessage,
  splTransfer,
  splTransferChecked,
  TOKEN_2022_PROGRAM,
} from '../../../test/support/solana.ts';
import { loadChain, TxError, type ChainModule, type SolanaOutput, type TxErrorCode } from '../src/index.ts';

/** A 2-of-3 frost-ed25519 key made by a real DKG, every participant in this process. */
function dkg(): KeyShare[] {
  const suite = 'frost-ed25519';
  const participants = [1, 2, 3];
  const sessionId = new Uint8Array(randomBytes(32));
  const r1 = participants.map((self) => dkgRound1({ suite, sessionId, self, participants, threshold: 2 }));
  const r2 = r1.map((p) => dkgRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  const inbox = (to: number): DkgRound2Package[] => r2.flatMap((r) => r.packages.filter((pkg) => pkg.to === to));
  return r2.map((r, k) => dkgRound3(r.secret, inbox(participants[k]!)).keyShare);
}

/** FROST signing of `message` by a quorum of two for the key at `path` (RFC 9591 rounds 1-2 and aggregation). */
function frostSign(quorum: KeyShare[], message: Uint8Array, path: string): Uint8Array {
  const target = { path };
  const round1 = quorum.map((s) => commit(s));
  const signing = { message, commitments: round1.map((r) => r.commitments) };
  const shares = quorum.map((s, k) => signShare(s, round1[k]!.nonces, signing, target));
  return aggregate(quorum[0]!.publicKey, signing, shares, target);
}

function expectTxError(fn: () => unknown, code: TxErrorCode, field?: string | RegExp): TxError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) expect.fail(`expected TxError ${code}, but nothing was thrown`);
  if (!(thrown instanceof TxError)) throw thrown;
  expect(thrown.code, thrown.message).toBe(code);
  if (field instanceof RegExp) expect(thrown.field).toMatch(field);
  else if (field !== undefined) expect(thrown.field).toBe(field);
  return thrown;
}

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let solana: ChainModule;
let shares: KeyShare[];
let key: PublicKeyPackage;
let root: PublicKey;
let child: PublicKey;

beforeAll(async () => {
  solana = await loadChain('solana');
  shares = dkg();
  key = shares[0]!.publicKey;
  root = new PublicKey(key.groupKey);
  child = new PublicKey(deriveChild(key, 'm/0/3').groupKey);
});

describe('solana: what a message does', () => {
  it('reads a legacy System transfer and its compute budget: target, id, transfer, fee', () => {
    const to = randomAddress();
    const data = solanaTransferMessage(root.toBytes(), to, 1_234_567n, { computeUnitLimit: 300_001, computeUnitPrice: 1001n });
    const tx = solana.parse(data, key);
    expect(tx.chain).toBe('solana');
    expect(tx.network).toBe('solana');
    expect(tx.id).toBe(sha256Hex(data));
    expect(tx.targets).toEqual([{ input: 0, message: data, path: 'm' }]);
    expect(tx.transfers).toEqual([{ asset: 'native', to: to.toBase58(), amount: 1_234_567n }]);
    // 5000 per signature + ceil(1001 * 300001 / 1e6) = ceil(300.301001).
    expect(tx.fee).toBe(5000n + 301n);
    expect(tx.opaque).toEqual([]);
  });

  it('reads the same transfer from a v0 message without lookup tables', () => {
    const to = randomAddress();
    const data = solanaTransferMessage(child.toBytes(), to, 42n, { version: 0, computeUnitPrice: 3n });
    expect(data[0]).toBe(0x80);
    const tx = solana.parse(data, key, { path: 'm/0/3' });
    expect(tx.targets).toEqual([{ input: 0, message: data, path: 'm/0/3' }]);
    expect(tx.transfers).toEqual([{ asset: 'native', to: to.toBase58(), amount: 42n }]);
    // No limit: 200000 units for the one other instruction; ceil(3 * 200000 / 1e6) = 1.
    expect(tx.fee).toBe(5001n);
  });

  it('counts the default compute limit per non-budget instruction, capped at 1.4M units, and caps a larger limit', () => {
    const transfers = Array.from({ length: 8 }, () => SystemProgram.transfer({ fromPubkey: root, toPubkey: randomAddress(), lamports: 1 }));
    const price = ComputeBudgetProgram.setComputeUnitPrice({ microLamports: 1_000_000n });
    expect(solana.parse(solanaMessage(root, [price, ...transfers.slice(0, 2)]), key).fee).toBe(5000n + 400_000n);
    expect(solana.parse(solanaMessage(root, [price, ...transfers]), key).fee).toBe(5000n + 1_400_000n);
    const limit = ComputeBudgetProgram.setComputeUnitLimit({ units: 4_000_000 });
    expect(solana.parse(solanaMessage(root, [limit, price, transfers[0]!]), key).fee).toBe(5000n + 1_400_000n);
    expect(solana.parse(solanaMessage(root, transfers.slice(0, 3)), key).transfers).toHaveLength(3);
  });

  it('refuses a repeated or unreadable compute budget instruction (the runtime would)', () => {
    const t = SystemProgram.transfer({ fromPubkey: root, toPubkey: randomAddress(), lamports: 1 });
    const price = ComputeBudgetProgram.setComputeUnitPrice({ microLamports: 5 });
    expectTxError(() => solana.parse(solanaMessage(root, [price, price, t]), key), 'MALFORMED_TX', 'message.instructions[1].data');
    const bad = new TransactionInstruction({ programId: ComputeBudgetProgram.programId, keys: [], data: Buffer.from([3, 1]) });
    expectTxError(() => solana.parse(solanaMessage(root, [bad, t]), key), 'MALFORMED_TX', 'message.instructions[0].data');
  });

  it('reads transferWithSeed from an account derived from the key as a native transfer', () => {
    const owner = SystemProgram.programId;
    const to = randomAddress();
    const from = PublicKey.createWithSeed(root, 'vault', owner);
    return from.then((fromPubkey) => {
      const ix = SystemProgram.transfer({ fromPubkey, basePubkey: root, toPubkey: to, lamports: 77n, seed: 'vault', programId: owner });
      const tx = solana.parse(solanaMessage(root, [ix]), key);
      expect(tx.transfers).toEqual([{ asset: 'native', to: to.toBase58(), amount: 77n }]);
      expect(tx.opaque).toEqual([]);
    });
  });

  it('reads SPL Transfer (asset spl:<source>) and Token-2022 TransferChecked (asset = mint) with the key as authority', () => {
    const [source, destination, mint] = [randomAddress(), randomAddress(), randomAddress()];
    const plain = solana.parse(solanaMessage(root, [splTransfer(source, destination, root, 500n)]), key);
    expect(plain.transfers).toEqual([{ asset: `spl:${source.toBase58()}`, to: destination.toBase58(), amount: 500n }]);
    expect(plain.opaque).toEqual([]);
    const checked = solana.parse(solanaMessage(root, [splTransferChecked(source, mint, destination, root, 2n ** 64n - 1n, 6, TOKEN_2022_PROGRAM)]), key);
    expect(checked.transfers).toEqual([{ asset: mint.toBase58(), to: destination.toBase58(), amount: 2n ** 64n - 1n }]);
    expect(checked.opaque).toEqual([]);
  });

  it('does not read a token transfer whose authority is another account (a multisig the key may sign for): opaque', () => {
    const multisig = randomAddress();
    const ix = splTransfer(randomAddress(), randomAddress(), multisig, 500n);
    ix.keys[2]!.isSigner = false;
    ix.keys.push({ pubkey: root, isSigner: true, isWritable: false });
    const tx = solana.parse(solanaMessage(root, [ix]), key);
    expect(tx.transfers).toEqual([]);
    expect(tx.opaque).toEqual([expect.stringContaining('TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA instruction 3')]);
  });

  it('marks an unknown program, a System instruction other than a transfer, and a precompile (whose signatures it charges) opaque', () => {
    const program = randomAddress();
    const unknown = new TransactionInstruction({ programId: program, keys: [{ pubkey: root, isSigner: true, isWritable: true }], data: Buffer.from([9, 9]) });
    const create = SystemProgram.createAccount({ fromPubkey: root, newAccountPubkey: root, lamports: 10 ** 9, space: 0, programId: program });
    const tx = solana.parse(solanaMessage(root, [unknown, create]), key);
    expect(tx.transfers).toEqual([]);
    expect(tx.opaque).toEqual([`message.instructions[0]: program ${program.toBase58()} instruction 9`, expect.stringContaining('11111111111111111111111111111111 instruction 0')]);
    const other = Keypair.generate();
    const pre = Ed25519Program.createInstructionWithPrivateKey({ privateKey: other.secretKey, message: Buffer.from('hi') });
    const k1 = Secp256k1Program.createInstructionWithPrivateKey({ privateKey: Uint8Array.from(randomBytes(32)), message: Buffer.from('hi') });
    const withPre = solana.parse(solanaMessage(root, [pre, k1]), key);
    expect(withPre.opaque).toHaveLength(2);
    expect(withPre.fee).toBe(3n * 5000n);
  });

  it('does not count a System transfer whose source or seed base is not the key (it cannot move the key\'s lamports): opaque', () => {
    const other = randomAddress();
    const to = randomAddress();
    const plain = SystemProgram.transfer({ fromPubkey: other, toPubkey: to, lamports: 9 });
    plain.keys[0]!.isSigner = false;
    const seeded = SystemProgram.transfer({ fromPubkey: randomAddress(), basePubkey: other, toPubkey: to, lamports: 9n, seed: 's', programId: SystemProgram.programId });
    seeded.keys[1]!.isSigner = false;
    const tx = solana.parse(solanaMessage(root, [plain, seeded]), key);
    expect(tx.transfers).toEqual([]);
    expect(tx.opaque).toEqual([expect.stringContaining('instructions[0]: program 11111111111111111111111111111111 instruction 2'), expect.stringContaining('instructions[1]: program 11111111111111111111111111111111 instruction 11')]);
  });

  it('does not count lamports sent back to the key itself', () => {
    const tx = solana.parse(solanaTransferMessage(root.toBytes(), root, 5n), key);
    expect(tx.transfers).toEqual([]);
    expect(tx.opaque).toEqual([]);
  });

  it('reads an AdvanceNonceAccount (durable nonce) as moving nothing', () => {
    const advance = SystemProgram.nonceAdvance({ noncePubkey: randomAddress(), authorizedPubkey: root });
    const to = randomAddress();
    const tx = solana.parse(solanaMessage(root, [advance, SystemProgram.transfer({ fromPubkey: root, toPubkey: to, lamports: 5 })]), key);
    expect(tx.transfers).toEqual([{ asset: 'native', to: to.toBase58(), amount: 5n }]);
    expect(tx.opaque).toEqual([]);
  });

  it('counts a transfer whose destination is only reachable through an address lookup table, and marks it opaque', () => {
    const to = randomAddress();
    const table = new AddressLookupTableAccount({
      key: randomAddress(),
      state: { deactivationSlot: 2n ** 64n - 1n, lastExtendedSlot: 0, lastExtendedSlotStartIndex: 0, addresses: [randomAddress(), to] },
    });
    const data = solanaTransferMessage(root.toBytes(), to, 900n, { version: 0, lookupTables: [table] });
    const decoded = VersionedTransaction.deserialize(Buffer.concat([Buffer.from([1]), Buffer.alloc(64), data])).message;
    expect(decoded.addressTableLookups).toHaveLength(1);
    const tx = solana.parse(data, key);
    expect(tx.transfers).toEqual([{ asset: 'native', to: `lookup:${table.key.toBase58()}:1`, amount: 900n }]);
    expect(tx.opaque).toEqual([expect.stringContaining('address lookup table')]);
  });
});

describe('solana: messages the key cannot sign alone', () => {
  it('refuses a message whose fee payer is another key: NOT_OUR_KEY', () => {
    const other = randomAddress();
    const data = solanaMessage(other, [SystemProgram.transfer({ fromPubkey: other, toPubkey: root, lamports: 1 })]);
    expectTxError(() => solana.parse(data, key), 'NOT_OUR_KEY', 'message.staticAccounts[0]');
  });

  it('refuses a message paid by the child key when parsed for the root, and the reverse: NOT_OUR_KEY', () => {
    const data = solanaTransferMessage(child.toBytes(), randomAddress(), 1n);
    expectTxError(() => solana.parse(data, key), 'NOT_OUR_KEY');
    expectTxError(() => solana.parse(solanaTransferMessage(root.toBytes(), randomAddress(), 1n), key, { path: 'm/0/3' }), 'NOT_OUR_KEY');
  });

  it('refuses a message that needs a second signer: UNSUPPORTED_TX', () => {
    const other = Keypair.generate().publicKey;
    const data = solanaMessage(root, [SystemProgram.transfer({ fromPubkey: other, toPubkey: root, lamports: 1 })]);
    expectTxError(() => solana.parse(data, key), 'UNSUPPORTED_TX', 'message.header.numSignerAccounts');
    expectTxError(() => solana.parse(solanaMessage(root, [SystemProgram.transfer({ fromPubkey: other, toPubkey: root, lamports: 1 })], { version: 0 }), key), 'UNSUPPORTED_TX');
  });

  it('refuses a key of another suite and a hardened path', () => {
    const data = solanaTransferMessage(root.toBytes(), randomAddress(), 1n);
    expectTxError(() => solana.parse(data, { ...key, suite: 'frost-secp256k1-tr' }), 'UNSUPPORTED_TX', 'key.suite');
    expectTxError(() => solana.parse(data, key, { path: "m/0'" }), 'MALFORMED_TX', 'path');
  });
});

describe('solana: malformed bytes', () => {
  const base = () => solanaTransferMessage(root.toBytes(), randomAddress(), 1n);

  it.each([
    ['empty', () => new Uint8Array(0), 'MALFORMED_TX'],
    ['text', () => new TextEncoder().encode('not a solana message, just some words that are long enough'), 'MALFORMED_TX'],
    ['a v0 prefix alone', () => Uint8Array.from([0x80]), 'MALFORMED_TX'],
    ['a truncated message', () => base().slice(0, 100), 'MALFORMED_TX'],
    ['a message with a trailing byte', () => Uint8Array.from([...base(), 0]), 'MALFORMED_TX'],
    ['a message of version 1', () => Uint8Array.from([0x81, ...base()]), 'UNSUPPORTED_TX'],
    ['a message of version 127', () => Uint8Array.from([0xff, ...base()]), 'UNSUPPORTED_TX'],
  ] as const)('refuses %s with a typed error naming the message', (_name, make, code) => {
    const err = expectTxError(() => solana.parse(make(), key), code);
    expect(err.field).toMatch(/^message/);
  });

  it('accepts a message that fits one 1232-byte packet with its signature, and refuses one byte more', () => {
    const sized = (dataBytes: number) => solanaMessage(root, [new TransactionInstruction({ programId: randomAddress(), keys: [], data: Buffer.alloc(dataBytes) })]);
    const overhead = sized(0).length + 1; // the data length grows from a 1- to a 2-byte shortvec
    const fits = sized(1232 - 1 - 64 - overhead);
    expect(fits.length).toBe(1232 - 65);
    expect(solana.parse(fits, key).opaque).toHaveLength(1);
    const over = sized(1232 - 1 - 64 - overhead + 1);
    expect(over.length).toBe(1232 - 64);
    expectTxError(() => solana.parse(over, key), 'MALFORMED_TX', 'message');
  });

  it('never returns for random bytes: every outcome is a TxError', () => {
    for (let k = 0; k < 200; k++) {
      const data = new Uint8Array(randomBytes(1 + (k % 300)));
      expect(() => solana.parse(data, key)).toThrow(TxError);
    }
  });

  it('refuses an instruction naming an account that does not exist', () => {
    const data = base();
    // Legacy layout: 3 header bytes, shortvec count (3 accounts), 3 x 32, blockhash 32, instruction count, program index.
    expect(data[3]).toBe(3);
    const at = 3 + 1 + 3 * 32 + 32 + 1;
    data[at] = 40;
    expectTxError(() => solana.parse(data, key), 'MALFORMED_TX', 'message.instructions[0].programAddressIndex');
    data[at] = 2;
    data[at + 2] = 7;
    expectTxError(() => solana.parse(data, key), 'MALFORMED_TX', 'message.instructions[0].accountIndices[0]');
  });

  it('refuses a read-only fee payer and an account listed twice', () => {
    const data = base();
    data[1] = 1;
    expectTxError(() => solana.parse(data, key), 'MALFORMED_TX', 'message.header.numReadonlySignerAccounts');
    const twice = base();
    twice.set(twice.subarray(4, 36), 4 + 32);
    expectTxError(() => solana.parse(twice, key), 'MALFORMED_TX', 'message.staticAccounts');
  });

  it('refuses a header with more signer accounts than accounts', () => {
    const data = base();
    data[2] = 9;
    expectTxError(() => solana.parse(data, key), 'MALFORMED_TX', 'message.header');
  });
});

describe('solana: a FROST-signed transaction is broadcastable', () => {
  it.each([
    ['legacy', 'm'],
    ['legacy', 'm/0/3'],
    ['v0', 'm'],
    ['v0', 'm/0/3'],
  ] as const)('%s message, key at %s: finalize gives a transaction web3.js accepts', (version, path) => {
    const payer = path === 'm' ? root : child;
    const to = randomAddress();
    const data = solanaTransferMessage(payer.toBytes(), to, 10n ** 6n, { version: version === 'v0' ? 0 : 'legacy', computeUnitPrice: 10n });
    const parsed = solana.parse(data, key, { path });
    const signature = frostSign([shares[2]!, shares[0]!], parsed.targets[0]!.message, parsed.targets[0]!.path);
    const out = solana.finalize(data, key, { path }, [{ input: 0, signature }]) as SolanaOutput;
    expect(out.chain).toBe('solana');
    expect(getBase58Encoder().encode(out.signature)).toEqual(signature);
    expect(solanaTransactionVerifies(out.transaction, data)).toBe(true);
    const wire = Buffer.from(out.transaction, 'base64');
    expect(wire.length).toBe(1 + 64 + data.length);
    expect(new Uint8Array(wire.subarray(1, 65))).toEqual(signature);
    if (version === 'legacy') {
      const tx = Transaction.from(wire);
      expect(tx.feePayer?.equals(payer)).toBe(true);
      expect(tx.verifySignatures()).toBe(true);
    } else {
      const tx = VersionedTransaction.deserialize(wire);
      expect(Buffer.from(tx.message.serialize()).equals(Buffer.from(data))).toBe(true);
    }
    const flipped = Buffer.from(wire);
    flipped[1 + 10]! ^= 1;
    expect(solanaTransactionVerifies(flipped.toString('base64'), data)).toBe(false);
    if (version === 'legacy') expect(Transaction.from(flipped).verifySignatures()).toBe(false);
  });

  it('finalize refuses a wrong, missing or other-key signature: BAD_SIGNATURE', () => {
    const data = solanaTransferMessage(child.toBytes(), randomAddress(), 5n);
    const good = frostSign(shares.slice(0, 2), data, 'm/0/3');
    const flipped = good.slice();
    flipped[0]! ^= 1;
    expectTxError(() => solana.finalize(data, key, { path: 'm/0/3' }, [{ input: 0, signature: flipped }]), 'BAD_SIGNATURE', 'signatures[0].signature');
    expectTxError(() => solana.finalize(data, key, { path: 'm/0/3' }, []), 'BAD_SIGNATURE', 'signatures[0]');
    expectTxError(() => solana.finalize(data, key, { path: 'm/0/3' }, [{ input: 0, signature: good.slice(0, 63) }]), 'BAD_SIGNATURE');
    const byRoot = frostSign(shares.slice(1, 3), data, 'm');
    expectTxError(() => solana.finalize(data, key, { path: 'm/0/3' }, [{ input: 0, signature: byRoot }]), 'BAD_SIGNATURE');
    const other = solanaTransferMessage(child.toBytes(), randomAddress(), 5n);
    expectTxError(() => solana.finalize(data, key, { path: 'm/0/3' }, [{ input: 0, signature: frostSign(shares.slice(0, 2), other, 'm/0/3') }]), 'BAD_SIGNATURE');
    expect((solana.finalize(data, key, { path: 'm/0/3' }, [{ input: 0, signature: good }]) as SolanaOutput).chain).toBe('solana');
  });
});
