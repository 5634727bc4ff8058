/**
 * The bitcoin chain module (docs/transactions.md §1 "bitcoin"): which inputs are the
 * key's and what each signs (BIP341 sighash, checked against bitcoinjs-lib's own), what
 * leaves the key (change recognised only by deriving), every refusal, and a real 2-of-3
 * FROST signing whose finalised PSBT bitcoinjs-lib and libsecp256k1 accept.
 */
import { Transaction as JsTransaction } from 'bitcoinjs-lib';
import { Transaction } from '@scure/btc-signer';
import { describe, expect, it } from 'vitest';
import type { KeyShare } from '@keyquorum/crypto';
import { runDkg, runSign } from '../../crypto/test/helpers.ts';
import { bitcoin, MAX_DERIVATION_STEPS } from '../src/tx/bitcoin.ts';
import { MAX_TX_BYTES, MAX_TX_TARGETS, TxError, type TxErrorCode, type TxSignature, type TxSigningTarget } from '../src/tx/types.ts';
import { buildPsbt, buildTransaction, checkWithBitcoinjs, internalKey, KEY_FINGERPRINT, otherParty, taprootAddress, taprootFields, taprootScript, type PsbtSpec } from '../../../test/support/bitcoin.ts';

const { shares } = runDkg('frost-secp256k1-tr', 2, [1, 2, 3]);
const key = shares[0]!.publicKey;
const quorum: KeyShare[] = [shares[0]!, shares[2]!];
const bob = otherParty('bob');
const carol = otherParty('carol');
const ROOT = new Uint8Array(32).fill(0x5a); // a script tree root the key's output commits to
const OP_RETURN = Uint8Array.of(0x6a, 0x04, 0xde, 0xad, 0xbe, 0xef);

/** 2-of-3 FROST signature for one target, made for its path and BIP341 output key. */
const signTarget = (t: TxSigningTarget): TxSignature => ({ input: t.input, signature: runSign(quorum, t.message, { path: t.path, taproot: t.taproot }).signature });

function expectTxError(fn: () => unknown, code: TxErrorCode, field?: string): TxError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected TxError ${code}`).toBeInstanceOf(TxError);
  const err = thrown as TxError;
  expect(err.code, err.message).toBe(code);
  if (field !== undefined) expect(err.field).toBe(field);
  return err;
}

/** BIP341 sighash of input `i` as bitcoinjs-lib computes it from the unsigned transaction. */
function bitcoinjsSighash(psbt: Uint8Array, i: number, hashType: number): Uint8Array {
  const scure = Transaction.fromPSBT(psbt, { allowUnknownOutputs: true });
  const prevouts = Array.from({ length: scure.inputsLength }, (_, k) => scure.getInput(k).witnessUtxo!);
  const tx = JsTransaction.fromBuffer(scure.unsignedTx);
  return tx.hashForWitnessV1(i, prevouts.map((p) => p.script), prevouts.map((p) => p.amount), hashType);
}

const mixed: PsbtSpec = {
  key,
  inputs: [{ amount: 100_000n }, { path: 'm/0/7', amount: 250_000n }, { path: 'm/1/2', amount: 40_000n, merkleRoot: ROOT }],
  foreign: [{ label: 'carol', amount: 70_000n }],
  pay: [{ address: bob.address(), amount: 300_000n }, { script: OP_RETURN, amount: 0n }],
  change: { path: 'm/1/9', amount: 109_000n },
};

describe('bitcoin.parse: which inputs are the key\'s and what each signs', () => {
  it('targets every input of the key (root, derived paths, a script-tree output) with its BIP341 sighash and leaves another party\'s input alone', () => {
    const psbt = buildPsbt(mixed);
    const parsed = bitcoin.parse(psbt, key);
    expect(parsed.targets.map((t) => [t.input, t.path, t.taproot])).toEqual([
      [0, 'm', {}],
      [1, 'm/0/7', {}],
      [2, 'm/1/2', { merkleRoot: ROOT }],
    ]);
    for (const t of parsed.targets) expect(t.message).toEqual(bitcoinjsSighash(psbt, t.input, JsTransaction.SIGHASH_DEFAULT));
    expect(parsed.id).toBe(JsTransaction.fromBuffer(Transaction.fromPSBT(psbt, { allowUnknownOutputs: true }).unsignedTx).getId());
    expect(parsed.network).toBe('mainnet');
    expect(parsed.opaque).toEqual([]);
  });

  it('signs SIGHASH_ALL inputs with the ALL sighash (a different message than DEFAULT)', () => {
    const psbt = buildPsbt({ ...mixed, inputs: [{ amount: 100_000n, sighashType: 1 }, ...mixed.inputs.slice(1)] });
    const [t0] = bitcoin.parse(psbt, key).targets;
    expect(t0!.message).toEqual(bitcoinjsSighash(psbt, 0, JsTransaction.SIGHASH_ALL));
    expect(t0!.message).not.toEqual(bitcoinjsSighash(psbt, 0, JsTransaction.SIGHASH_DEFAULT));
  });

  it('does not trust a tapBip32Derivation entry whose path does not derive the input\'s internal key', () => {
    const tx = buildTransaction({ key, inputs: [], pay: [{ address: bob.address(), amount: 500n }] });
    const internal = internalKey(key, 'm/0/7');
    tx.addInput({
      txid: new Uint8Array(32).fill(3), index: 0,
      witnessUtxo: { script: taprootScript(key, 'm/0/7'), amount: 1000n },
      tapInternalKey: internal,
      tapBip32Derivation: [[internal, { hashes: [], der: { fingerprint: KEY_FINGERPRINT, path: [0, 8] } }]],
    });
    expectTxError(() => bitcoin.parse(tx.toPSBT(), key), 'NOT_OUR_KEY', 'tx.inputs');
  });

  it('does not take an input whose BIP371 fields name the key but whose prevout pays someone else', () => {
    const tx = new Transaction({ disableScriptCheck: true }); // scure itself refuses such an input by default
    tx.addInput({ txid: new Uint8Array(32).fill(4), index: 0, witnessUtxo: { script: carol.script, amount: 1000n }, ...taprootFields(key, 'm/0/7') });
    tx.addOutput({ script: bob.script, amount: 500n });
    expectTxError(() => bitcoin.parse(tx.toPSBT(), key), 'NOT_OUR_KEY', 'tx.inputs');
  });

  it('reads another party\'s input and an output with undecodable scripts without failing (script:<hex>)', () => {
    const tx = buildTransaction({ ...mixed, foreign: [] });
    const tx2 = new Transaction({ disableScriptCheck: true, allowUnknownOutputs: true });
    for (let i = 0; i < tx.inputsLength; i++) tx2.addInput(tx.getInput(i));
    tx2.addInput({ txid: new Uint8Array(32).fill(5), index: 0, witnessUtxo: { script: Uint8Array.of(0x4c), amount: 1000n } });
    tx2.addOutput({ script: Uint8Array.of(0x4d, 0xff), amount: 1000n });
    const parsed = bitcoin.parse(tx2.toPSBT(), key);
    expect(parsed.targets.map((t) => t.input)).toEqual([0, 1, 2]);
    expect(parsed.transfers).toEqual([{ asset: 'native', to: 'script:4dff', amount: 1000n }]);
  });

  it('refuses a PSBT with no input of the key (NOT_OUR_KEY)', () => {
    const psbt = buildPsbt({ key, inputs: [], foreign: [{ label: 'carol', amount: 5000n }], pay: [{ address: bob.address(), amount: 4000n }] });
    expectTxError(() => bitcoin.parse(psbt, key), 'NOT_OUR_KEY', 'tx.inputs');
  });
});

describe('bitcoin.parse: transfers, change and fee', () => {
  it('lists every output but change as a transfer (OP_RETURN as script:<hex>) and the fee as inputs minus outputs', () => {
    const parsed = bitcoin.parse(buildPsbt(mixed), key);
    expect(parsed.transfers).toEqual([
      { asset: 'native', to: bob.address(), amount: 300_000n },
      { asset: 'native', to: 'script:6a04deadbeef', amount: 0n },
    ]);
    expect(parsed.fee).toBe(100_000n + 250_000n + 40_000n + 70_000n - 300_000n - 109_000n);
  });

  it('recognises change to the root key from its own BIP371 fields', () => {
    const parsed = bitcoin.parse(buildPsbt({ ...mixed, change: { path: 'm', amount: 1000n } }), key);
    expect(parsed.transfers.map((t) => t.to)).toEqual([bob.address(), 'script:6a04deadbeef']);
  });

  it('counts an output whose derivation fields name the key but whose script pays someone else as a transfer, not change', () => {
    const tx = buildTransaction({ ...mixed, change: undefined });
    tx.addOutput({ script: carol.script, amount: 109_000n, ...taprootFields(key, 'm/1/9') });
    const parsed = bitcoin.parse(tx.toPSBT(), key);
    expect(parsed.transfers).toContainEqual({ asset: 'native', to: carol.address(), amount: 109_000n });
    expect(parsed.transfers).toHaveLength(3);
  });

  it('counts a payment to the key\'s own address without derivation fields as a transfer (change is never guessed)', () => {
    const parsed = bitcoin.parse(buildPsbt({ ...mixed, change: undefined, pay: [{ address: taprootAddress(key, 'm/1/9'), amount: 5000n }] }), key);
    expect(parsed.transfers).toEqual([{ asset: 'native', to: taprootAddress(key, 'm/1/9'), amount: 5000n }]);
  });

  it.each([
    ['mainnet', 'bc1p'],
    ['testnet', 'tb1p'],
    ['regtest', 'bcrt1p'],
  ] as const)('renders addresses for %s (%s…)', (network, prefix) => {
    const to = bob.address(network);
    expect(to.startsWith(prefix)).toBe(true);
    const parsed = bitcoin.parse(buildPsbt({ ...mixed, network, pay: [{ address: to, amount: 1000n }] }), key, { network });
    expect(parsed.network).toBe(network);
    expect(parsed.transfers).toEqual([{ asset: 'native', to, amount: 1000n }]);
  });
});

describe('bitcoin.parse: refusals', () => {
  it('refuses an input without witnessUtxo (MALFORMED_TX), even another party\'s', () => {
    const tx = buildTransaction({ ...mixed, foreign: [] });
    tx.addInput({ txid: new Uint8Array(32).fill(7), index: 1 });
    expectTxError(() => bitcoin.parse(tx.toPSBT(), key), 'MALFORMED_TX', 'tx.inputs[3].witnessUtxo');
  });

  it.each([
    ['SIGHASH_NONE', 0x02],
    ['SIGHASH_SINGLE', 0x03],
    ['SIGHASH_ALL|ANYONECANPAY', 0x81],
  ])('refuses an input of the key with %s (UNSUPPORTED_TX)', (_name, sighashType) => {
    const psbt = buildPsbt({ ...mixed, inputs: [mixed.inputs[0]!, { ...mixed.inputs[1]!, sighashType }] });
    expectTxError(() => bitcoin.parse(psbt, key), 'UNSUPPORTED_TX', 'tx.inputs[1].sighashType');
  });

  it.each([
    ['random bytes', Uint8Array.from({ length: 200 }, (_, i) => (i * 37) & 0xff)],
    ['an empty buffer', new Uint8Array(0)],
    ['a truncated PSBT', buildPsbt(mixed).subarray(0, 120)],
    ['an oversized buffer', new Uint8Array(MAX_TX_BYTES + 1)],
  ])('refuses %s (MALFORMED_TX)', (_name, data) => {
    expectTxError(() => bitcoin.parse(data, key), 'MALFORMED_TX', 'tx.data');
  });

  it('refuses a key of another suite and an unknown network (UNSUPPORTED_TX)', () => {
    const ed = runDkg('frost-ed25519', 2, [1, 2, 3]).shares[0]!.publicKey;
    expectTxError(() => bitcoin.parse(buildPsbt(mixed), ed), 'UNSUPPORTED_TX', 'key.suite');
    expectTxError(() => bitcoin.parse(buildPsbt(mixed), key, { network: 'signet' as 'mainnet' }), 'UNSUPPORTED_TX', 'tx.network');
  });

  it('refuses outputs that spend more than the inputs (MALFORMED_TX)', () => {
    const psbt = buildPsbt({ ...mixed, pay: [{ address: bob.address(), amount: 460_001n - 109_000n }] });
    expectTxError(() => bitcoin.parse(psbt, key), 'MALFORMED_TX', 'tx.outputs');
    expect(bitcoin.parse(buildPsbt({ ...mixed, pay: [{ address: bob.address(), amount: 460_000n - 109_000n }] }), key).fee).toBe(0n);
  });

  it(`refuses more than ${MAX_TX_TARGETS} inputs of the key (UNSUPPORTED_TX)`, () => {
    const inputs = Array.from({ length: MAX_TX_TARGETS + 1 }, () => ({ amount: 10_000n }));
    expect(bitcoin.parse(buildPsbt({ ...mixed, inputs: inputs.slice(1) }), key).targets).toHaveLength(MAX_TX_TARGETS);
    expectTxError(() => bitcoin.parse(buildPsbt({ ...mixed, inputs }), key), 'UNSUPPORTED_TX', `tx.inputs[${MAX_TX_TARGETS}]`);
  });

  it(`refuses derivation paths beyond ${MAX_DERIVATION_STEPS} steps in total (UNSUPPORTED_TX)`, () => {
    const tx = buildTransaction({ key, inputs: [], pay: [{ address: bob.address(), amount: 1000n }] });
    const root = internalKey(key);
    for (let k = 0; k < 5; k++) {
      const deep = [k, ...Array.from({ length: Math.ceil(MAX_DERIVATION_STEPS / 5) }, () => 1)];
      tx.addInput({
        txid: new Uint8Array(32).fill(k + 1), index: 0,
        witnessUtxo: { script: taprootScript(key), amount: 1000n },
        tapInternalKey: root,
        tapBip32Derivation: [[root, { hashes: [], der: { fingerprint: 1, path: deep } }]],
      });
    }
    expectTxError(() => bitcoin.parse(tx.toPSBT(), key), 'UNSUPPORTED_TX', 'tx.inputs[4].tapBip32Derivation');
  });
});

describe('bitcoin.finalize with a real 2-of-3 FROST signing, checked by bitcoinjs-lib and libsecp256k1', () => {
  const spec: PsbtSpec = { ...mixed, foreign: [], inputs: [mixed.inputs[0]!, { ...mixed.inputs[1]!, sighashType: 1 }, mixed.inputs[2]!], change: { path: 'm/1/9', amount: 39_000n } };
  const psbt = buildPsbt(spec);
  const parsed = bitcoin.parse(psbt, key);
  const signatures = parsed.targets.map(signTarget);

  it('finalises a transaction whose every witness verifies under its prevout\'s output key', () => {
    const out = bitcoin.finalize(psbt, key, {}, signatures);
    expect(out.chain).toBe('bitcoin');
    if (out.chain !== 'bitcoin') return;
    expect(out.txid).toBe(parsed.id);
    const check = checkWithBitcoinjs(out.psbt);
    expect(check.tx).toBe(out.tx);
    expect(check.txid).toBe(out.txid);
    expect(check.verified).toEqual([0, 1, 2]);
    expect(JsTransaction.fromHex(out.tx).ins[1]!.witness[0]).toHaveLength(65); // SIGHASH_ALL appends its byte
    expectTxError(() => bitcoin.parse(Buffer.from(out.psbt, 'base64'), key), 'ALREADY_SIGNED', 'tx.inputs[0]');
  });

  it('refuses a signature that does not verify (BAD_SIGNATURE)', () => {
    const bad = signatures.map((s) => (s.input === 1 ? { ...s, signature: s.signature.map((b, i) => (i === 63 ? b ^ 1 : b)) } : s));
    expectTxError(() => bitcoin.finalize(psbt, key, {}, bad), 'BAD_SIGNATURE', 'signatures[1]');
  });

  it('refuses a signature by the internal (untweaked) key, a swapped, a missing, a duplicated and a stray one (BAD_SIGNATURE)', () => {
    const t0 = parsed.targets[0]!;
    const untweaked = runSign(quorum, t0.message, { path: t0.path }).signature;
    expectTxError(() => bitcoin.finalize(psbt, key, {}, [{ input: 0, signature: untweaked }, ...signatures.slice(1)]), 'BAD_SIGNATURE', 'signatures[0]');
    const swapped = [{ ...signatures[0]!, input: 2 }, signatures[1]!, { ...signatures[2]!, input: 0 }];
    expectTxError(() => bitcoin.finalize(psbt, key, {}, swapped), 'BAD_SIGNATURE', 'signatures[0]');
    expectTxError(() => bitcoin.finalize(psbt, key, {}, signatures.slice(0, 2)), 'BAD_SIGNATURE', 'signatures[2]');
    // Two signatures for one input, the valid one first: which one would be used must not
    // depend on their order; refused.
    expectTxError(() => bitcoin.finalize(psbt, key, {}, [...signatures, { input: 1, signature: new Uint8Array(64) }]), 'BAD_SIGNATURE', 'signatures[1]');
    expectTxError(() => bitcoin.finalize(psbt, key, {}, [...signatures, { input: 3, signature: signatures[0]!.signature }]), 'BAD_SIGNATURE', 'signatures[3]');
  });

  it('finalises only the key\'s inputs when another party still has to sign (tx empty, PSBT carries ours)', () => {
    const withOther = buildPsbt(mixed);
    const out = bitcoin.finalize(withOther, key, {}, bitcoin.parse(withOther, key).targets.map(signTarget));
    if (out.chain !== 'bitcoin') throw new Error('not a bitcoin output');
    expect(out.tx).toBe('');
    const back = Transaction.fromPSBT(Buffer.from(out.psbt, 'base64'), { allowUnknownOutputs: true });
    expect([0, 1, 2, 3].map((i) => back.getInput(i).finalScriptWitness !== undefined)).toEqual([true, true, true, false]);
  });
});
