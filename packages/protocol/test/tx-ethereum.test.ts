/**
 * The ethereum chain module (docs/transactions.md §1): what it reads from each unsigned
 * transaction type, what it refuses, and, against a real EVM node (ganache as a child
 * process) with a real 2-of-3 threshold ECDSA key, that its finalised transactions are
 * accepted and move the funds.
 */
import { deriveChild, type PublicKeyPackage } from '@keyquorum/crypto';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { computeAddress, encodeRlp, getAddress, getBytes, getCreateAddress, hexlify, Interface, JsonRpcProvider, SigningKey, toBeHex, Transaction, type TransactionLike } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEcdsaDkg, runSign } from '../../crypto/test/ecdsa-helpers.ts';
import { startGanache, type Ganache } from '../../../test/support/ganache.ts';
import { ECDSA_SUITE } from '../src/index.ts';
import { ethereum } from '../src/tx/ethereum.ts';
import { MAX_TX_BYTES, TxError, type EthereumOutput, type ParsedTx, type TxOutput } from '../src/tx/types.ts';

const N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const RECIPIENT = '0x1111111111111111111111111111111111111111';
const TOKEN = '0x2222222222222222222222222222222222222222';
const SPENDER = '0x3333333333333333333333333333333333333333';
const GWEI = 10n ** 9n;
const ERC20 = new Interface(['function transfer(address,uint256)', 'function transferFrom(address,address,uint256)', 'function approve(address,uint256)']);

/** A public package for a key whose secret the test knows (single-key fixture for the unit tests). */
const SK = '0x' + '42'.repeat(32);
const soloKey: PublicKeyPackage = (() => {
  const Y = getBytes(SigningKey.computePublicKey(SK, true));
  return { suite: 'frost-secp256k1', threshold: 2, participants: [1, 2], groupKey: Y, verifyingShares: { 1: Y, 2: Y }, chainCode: new Uint8Array(32).fill(7) };
})();
/** The secret of the solo key at `path` (parent + tweak, as a threshold signer would sign for it). */
const soloSigner = (path: string) => new SigningKey(toBeHex((BigInt(SK) + deriveChild(soloKey, path).tweak) % N, 32));

const unsigned = (tx: TransactionLike): Uint8Array => getBytes(Transaction.from(tx).unsignedSerialized);
const eip1559 = (over: TransactionLike = {}) =>
  unsigned({ type: 2, chainId: 1, nonce: 3, maxPriorityFeePerGas: 2n * GWEI, maxFeePerGas: 30n * GWEI, gasLimit: 21000, to: RECIPIENT, value: 5n * 10n ** 17n, ...over });
const eip2930 = (over: TransactionLike = {}) =>
  unsigned({ type: 1, chainId: 137, nonce: 0, gasPrice: 40n * GWEI, gasLimit: 50000, to: RECIPIENT, value: 7n, accessList: [{ address: TOKEN, storageKeys: [] }], ...over });
const legacy = (over: TransactionLike = {}) => unsigned({ type: 0, chainId: 56, nonce: 9, gasPrice: 5n * GWEI, gasLimit: 21000, to: RECIPIENT, value: 1n, ...over });

/** The ethereum output of finalize (the module's return type is the union over chains). */
function ethOutput(out: TxOutput): EthereumOutput {
  if (out.chain !== 'ethereum') throw new Error(`expected an ethereum output, got ${out.chain}`);
  return out;
}

function refused(fn: () => unknown, code: string, field: string) {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected TxError ${code}`).toBeInstanceOf(TxError);
  expect({ code: (caught as TxError).code, field: (caught as TxError).field }).toEqual({ code, field });
}

describe('ethereum parse', () => {
  it('reads an EIP-1559 transaction: one target (keccak256 of the unsigned bytes), chain, native transfer, fee from maxFeePerGas', () => {
    const data = eip1559();
    const p = ethereum.parse(data, soloKey);
    expect(p).toEqual({
      chain: 'ethereum', network: 'eip155:1', id: hexlify(keccak_256(data)),
      targets: [{ input: 0, message: keccak_256(data), path: 'm' }],
      transfers: [{ asset: 'native', to: RECIPIENT, amount: 5n * 10n ** 17n }],
      fee: 21000n * 30n * GWEI, opaque: [],
    } satisfies ParsedTx);
  });

  it('reads an EIP-2930 transaction: fee from gasPrice, its chain id', () => {
    const data = eip2930();
    const p = ethereum.parse(data, soloKey, { path: 'm/0/7' });
    expect(p.network).toBe('eip155:137');
    expect(p.targets).toEqual([{ input: 0, message: keccak_256(data), path: 'm/0/7' }]);
    expect(p.transfers).toEqual([{ asset: 'native', to: RECIPIENT, amount: 7n }]);
    expect(p.fee).toBe(50000n * 40n * GWEI);
    expect(p.opaque).toEqual([]);
  });

  it('reads a legacy EIP-155 transaction: the chain id from the v field, fee from gasPrice', () => {
    const data = legacy();
    const p = ethereum.parse(data, soloKey);
    expect(p.network).toBe('eip155:56');
    expect(p.targets[0]!.message).toEqual(keccak_256(data));
    expect(p.transfers).toEqual([{ asset: 'native', to: RECIPIENT, amount: 1n }]);
    expect(p.fee).toBe(21000n * 5n * GWEI);
  });

  it('a zero-value transaction without calldata transfers nothing', () => {
    expect(ethereum.parse(eip1559({ value: 0n }), soloKey).transfers).toEqual([]);
  });

  it.each([
    ['transfer', [RECIPIENT, 123n], RECIPIENT],
    ['transferFrom', [SPENDER, RECIPIENT, 456n], RECIPIENT],
    ['approve', [SPENDER, 2n ** 256n - 1n], SPENDER],
  ] as const)('decodes ERC-20 %s: the token contract, the recipient or spender, the amount', (fn, args, to) => {
    const token = getAddress(TOKEN); // checksummed in, lowercase out
    const p = ethereum.parse(eip1559({ to: token, value: 0n, gasLimit: 60000, data: ERC20.encodeFunctionData(fn, args) }), soloKey);
    expect(p.transfers).toEqual([{ asset: TOKEN, to, amount: args[args.length - 1] }]);
    expect(p.opaque).toEqual([]);
  });

  it('an ERC-20 call that also sends value yields both transfers', () => {
    const p = ethereum.parse(eip1559({ to: TOKEN, value: 9n, data: ERC20.encodeFunctionData('transfer', [RECIPIENT, 1n]) }), soloKey);
    expect(p.transfers).toEqual([{ asset: 'native', to: TOKEN, amount: 9n }, { asset: TOKEN, to: RECIPIENT, amount: 1n }]);
  });

  it.each([
    ['one byte too many', ERC20.encodeFunctionData('transfer', [RECIPIENT, 1n]) + '00'],
    ['one word short', ERC20.encodeFunctionData('transferFrom', [SPENDER, RECIPIENT, 1n]).slice(0, -64)],
    ['an appended word (the contract would ignore it)', ERC20.encodeFunctionData('approve', [SPENDER, 1n]) + '00'.repeat(32)],
    ['an address word with its upper bytes set', '0xa9059cbb' + 'ff'.repeat(12) + RECIPIENT.slice(2) + toBeHex(1n, 32).slice(2)],
    ['only a selector', '0xa9059cbb'],
  ])('ERC-20 calldata with %s is opaque, not a transfer', (_, data) => {
    const p = ethereum.parse(eip1559({ to: TOKEN, value: 0n, data }), soloKey);
    expect(p.transfers).toEqual([]);
    expect(p.opaque).toHaveLength(1);
    expect(p.opaque[0]).toContain(TOKEN);
  });

  it('other calldata is opaque, naming the contract and selector', () => {
    const p = ethereum.parse(eip1559({ to: TOKEN, value: 0n, data: '0xdeadbeef00' }), soloKey);
    expect(p.transfers).toEqual([]);
    expect(p.opaque).toEqual([`call to ${TOKEN}: selector 0xdeadbeef, 5 bytes of calldata`]);
  });

  it('contract creation is opaque, and its value is a transfer to the created address of the key at the path', () => {
    const p = ethereum.parse(eip1559({ to: null, value: 4n, nonce: 3, data: '0x6000' }), soloKey, { path: 'm/0/7' });
    const created = getCreateAddress({ from: computeAddress(hexlify(deriveChild(soloKey, 'm/0/7').groupKey)), nonce: 3 }).toLowerCase();
    expect(p.transfers).toEqual([{ asset: 'native', to: created, amount: 4n }]);
    expect(p.opaque).toEqual([`contract creation at ${created} with 2 bytes of init code`]);
  });

  it('accepts the key package under either suite name of an ECDSA key', () => {
    expect(ethereum.parse(eip1559(), { ...soloKey, suite: ECDSA_SUITE } as unknown as PublicKeyPackage)).toEqual(ethereum.parse(eip1559(), soloKey));
  });
});

describe('ethereum refusals', () => {
  const signed = (tx: TransactionLike) => getBytes(Transaction.from({ ...tx, signature: soloSigner('m').sign(Transaction.from(tx).unsignedHash) }).serialized);
  const base = { nonce: 0, gasLimit: 21000, to: RECIPIENT, value: 1n };

  it('refuses a legacy transaction without a chain id (6 fields, replayable across chains; EIP-155)', () => {
    const six = getBytes(encodeRlp(['0x', toBeHex(GWEI), toBeHex(21000), RECIPIENT, '0x01', '0x']));
    refused(() => ethereum.parse(six, soloKey), 'UNSUPPORTED_TX', 'tx.chainId');
    refused(() => ethereum.parse(legacy({ chainId: 0 }), soloKey), 'UNSUPPORTED_TX', 'tx.chainId');
  });

  it('refuses a typed transaction with chain id 0', () => {
    refused(() => ethereum.parse(eip1559({ chainId: 0 }), soloKey), 'UNSUPPORTED_TX', 'tx.chainId');
  });

  it.each([
    ['EIP-1559', { type: 2, chainId: 1, maxFeePerGas: GWEI, maxPriorityFeePerGas: 1n, ...base }],
    ['EIP-2930', { type: 1, chainId: 1, gasPrice: GWEI, ...base }],
    ['legacy EIP-155', { type: 0, chainId: 1, gasPrice: GWEI, ...base }],
    ['legacy pre-EIP-155', { type: 0, chainId: 0, gasPrice: GWEI, ...base }],
  ] as const)('refuses an already-signed %s transaction', (_, tx) => {
    refused(() => ethereum.parse(signed(tx), soloKey), 'ALREADY_SIGNED', 'tx.signature');
  });

  it('refuses blob (type 3), set-code (type 4) and unknown types', () => {
    const blob = unsigned({ type: 3, chainId: 1, maxFeePerGas: GWEI, maxPriorityFeePerGas: 1n, maxFeePerBlobGas: 1n, blobVersionedHashes: ['0x01' + '00'.repeat(31)], ...base });
    const setCode = unsigned({ type: 4, chainId: 1, maxFeePerGas: GWEI, maxPriorityFeePerGas: 1n, authorizationList: [], ...base });
    expect([blob[0], setCode[0]]).toEqual([3, 4]);
    refused(() => ethereum.parse(blob, soloKey), 'UNSUPPORTED_TX', 'tx.type');
    refused(() => ethereum.parse(setCode, soloKey), 'UNSUPPORTED_TX', 'tx.type');
    refused(() => ethereum.parse(new Uint8Array([0x05, 0xc0]), soloKey), 'UNSUPPORTED_TX', 'tx.type');
    // 0x7f is the last EIP-2718 type byte: still a (future) type, not a malformed list.
    refused(() => ethereum.parse(new Uint8Array([0x7f, 0xc0]), soloKey), 'UNSUPPORTED_TX', 'tx.type');
    expect(() => ethereum.parse(blob, soloKey)).toThrow(/EIP-4844 blob/);
    expect(() => ethereum.parse(setCode, soloKey)).toThrow(/EIP-7702 set-code/);
  });

  it.each([
    ['empty input', new Uint8Array(0)],
    ['more than MAX_TX_BYTES (calldata of 128 KiB)', eip1559({ to: TOKEN, data: hexlify(new Uint8Array(MAX_TX_BYTES)) })],
    ['a lone RLP string', getBytes(encodeRlp('0x1234'))],
    ['truncated EIP-1559', eip1559().slice(0, -3)],
    ['trailing bytes after the RLP list', new Uint8Array([...eip2930(), 0])],
    ['an EIP-1559 list with a field missing', new Uint8Array([2, ...getBytes(encodeRlp(['0x01', '0x', '0x01', '0x01', '0x5208', RECIPIENT, '0x', '0x']))])],
    ['a non-canonical integer (leading zero in the nonce)', getBytes(encodeRlp(['0x0009', toBeHex(GWEI), toBeHex(21000), RECIPIENT, '0x01', '0x', '0x01', '0x', '0x']))],
    ['a 19-byte to address', getBytes(encodeRlp(['0x09', toBeHex(GWEI), toBeHex(21000), RECIPIENT.slice(0, -2), '0x01', '0x', '0x01', '0x', '0x']))],
  ])('refuses malformed input: %s', (_, data) => {
    refused(() => ethereum.parse(data, soloKey), 'MALFORMED_TX', 'tx.data');
  });

  it('refuses a hardened or malformed path, and a key that is not secp256k1', () => {
    refused(() => ethereum.parse(eip1559(), soloKey, { path: "m/0'" }), 'MALFORMED_TX', 'path');
    refused(() => ethereum.parse(eip1559(), soloKey, { path: 'x/1' }), 'MALFORMED_TX', 'path');
    refused(() => ethereum.parse(eip1559(), { ...soloKey, suite: 'frost-ed25519' }), 'NOT_OUR_KEY', 'key.suite');
  });
});

describe('ethereum finalize (single-key fixture)', () => {
  const finalize = (data: Uint8Array, path: string, signature: Uint8Array, recoveryId: number) =>
    ethOutput(ethereum.finalize(data, soloKey, { path }, [{ input: 0, signature, recoveryId }]));
  const sign = (data: Uint8Array, path = 'm') => {
    const sig = soloSigner(path).sign(ethereum.parse(data, soloKey, { path }).targets[0]!.message);
    return { rs: getBytes(sig.r + sig.s.slice(2)), r: BigInt(sig.r), s: BigInt(sig.s), recoveryId: sig.yParity as number };
  };

  it.each([['EIP-1559', eip1559], ['EIP-2930', eip2930], ['legacy EIP-155', legacy]] as const)('puts the signature into a %s transaction from the key at the path', (_, make) => {
    const data = make();
    const { rs, recoveryId } = sign(data, 'm/0/7');
    const out = finalize(data, 'm/0/7', rs, recoveryId);
    const tx = Transaction.from(out.signedTx);
    expect(out.from).toBe(computeAddress(soloSigner('m/0/7').publicKey));
    expect(tx.from).toBe(out.from);
    expect(tx.hash).toBe(out.hash);
    expect(tx.unsignedSerialized).toBe(hexlify(data));
  });

  it('normalises a high s to n - s with the parity flipped (EIP-2)', () => {
    const data = eip1559();
    const { rs, r, s, recoveryId } = sign(data);
    const high = getBytes(toBeHex(r, 32) + toBeHex(N - s, 32).slice(2));
    expect(finalize(data, 'm', high, recoveryId ^ 1)).toEqual(finalize(data, 'm', rs, recoveryId));
  });

  it('refuses a signature of another transaction, of another path, with the wrong parity', () => {
    const data = eip1559();
    const other = sign(eip1559({ nonce: 4 }));
    refused(() => finalize(data, 'm', other.rs, other.recoveryId), 'BAD_SIGNATURE', 'signatures[0]');
    const root = sign(data, 'm');
    refused(() => finalize(data, 'm/0/7', root.rs, root.recoveryId), 'BAD_SIGNATURE', 'signatures[0]');
    refused(() => finalize(data, 'm', root.rs, root.recoveryId ^ 1), 'BAD_SIGNATURE', 'signatures[0]');
  });

  it('refuses a missing signature, a wrong length, r or s out of range, a recovery id Ethereum cannot express', () => {
    const data = legacy();
    const { rs, recoveryId } = sign(data);
    refused(() => ethereum.finalize(data, soloKey, {}, []), 'BAD_SIGNATURE', 'signatures[0]');
    refused(() => ethereum.finalize(data, soloKey, {}, [{ input: 1, signature: rs, recoveryId }]), 'BAD_SIGNATURE', 'signatures[0]');
    refused(() => finalize(data, 'm', rs.slice(1), recoveryId), 'BAD_SIGNATURE', 'signatures[0]');
    // 65 bytes whose s, read as a number, is the valid one (a zero byte padded in front of
    // it): refused by its length, not accepted because it happens to recover the key.
    refused(() => finalize(data, 'm', new Uint8Array([...rs.slice(0, 32), 0, ...rs.slice(32)]), recoveryId), 'BAD_SIGNATURE', 'signatures[0]');
    refused(() => finalize(data, 'm', new Uint8Array([...new Uint8Array(32), ...rs.slice(32)]), recoveryId), 'BAD_SIGNATURE', 'signatures[0]');
    refused(() => finalize(data, 'm', new Uint8Array([...rs.slice(0, 32), ...getBytes(toBeHex(N, 32))]), recoveryId), 'BAD_SIGNATURE', 'signatures[0]');
    refused(() => finalize(data, 'm', rs, recoveryId + 2), 'BAD_SIGNATURE', 'signatures[0].recoveryId');
  });

  it('refuses to finalize what parse refuses', () => {
    const { rs, recoveryId } = sign(eip1559());
    refused(() => finalize(legacy({ chainId: 0 }), 'm', rs, recoveryId), 'UNSUPPORTED_TX', 'tx.chainId');
  });
});

describe('ethereum against a real node (ganache) with a 2-of-3 threshold ECDSA key', () => {
  const CHAIN_ID = 31337;
  let node: Ganache;
  let provider: JsonRpcProvider;
  let shares: ReturnType<typeof runEcdsaDkg>['shares'];
  let key: PublicKeyPackage;
  const addressAt = (path: string) => computeAddress(hexlify(deriveChild(key, path).groupKey));

  beforeAll(async () => {
    const started = startGanache({ chainId: CHAIN_ID });
    started.catch(() => undefined); // awaited below; the DKG runs meanwhile
    shares = runEcdsaDkg(2, [1, 2, 3]).shares;
    key = shares[0]!.frost.publicKey;
    node = await started;
    provider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
    for (const path of ['m', 'm/0/7']) await node.fund(addressAt(path), 10n ** 18n);
  }, 300_000);

  afterAll(async () => {
    provider?.destroy();
    await node?.stop();
  }, 60_000);

  /** Signs the parsed target with signers 2 and 3 of the threshold key (DKLs23, in process). */
  const thresholdSign = (p: ParsedTx, path: string) => {
    const { signature, recovery } = runSign(shares.slice(1), p.targets[0]!.message, path === 'm' ? undefined : path);
    return [{ input: 0, signature, recoveryId: recovery }];
  };

  const fees = async () => {
    const block = await provider.getBlock('latest');
    const maxFeePerGas = 2n * block!.baseFeePerGas! + GWEI;
    return { maxFeePerGas, maxPriorityFeePerGas: GWEI, gasPrice: maxFeePerGas };
  };

  it.each([
    ['EIP-1559', 'm', 2],
    ['EIP-2930', 'm/0/7', 1],
    ['legacy EIP-155', 'm', 0],
    ['EIP-1559', 'm/0/7', 2],
    ['EIP-2930', 'm', 1],
    ['legacy EIP-155', 'm/0/7', 0],
  ] as const)('a %s transaction signed by the key at %s is accepted and pays the recipient', async (_, path, type) => {
    const from = addressAt(path);
    const to = hexlify(crypto.getRandomValues(new Uint8Array(20)));
    const { maxFeePerGas, maxPriorityFeePerGas, gasPrice } = await fees();
    const value = 12345n;
    const tx: TransactionLike = { type, chainId: CHAIN_ID, nonce: await provider.getTransactionCount(from), gasLimit: 21000, to, value };
    Object.assign(tx, type === 2 ? { maxFeePerGas, maxPriorityFeePerGas } : { gasPrice }, type === 1 ? { accessList: [] } : {});
    const data = unsigned(tx);

    const parsed = ethereum.parse(data, key, { path });
    expect(parsed.network).toBe(`eip155:${CHAIN_ID}`);
    expect(parsed.transfers).toEqual([{ asset: 'native', to: to.toLowerCase(), amount: value }]);
    const out = ethOutput(ethereum.finalize(data, key, { path }, thresholdSign(parsed, path)));
    expect(out.from).toBe(from);

    const before = { from: await provider.getBalance(from), to: await provider.getBalance(to) };
    const sent = await provider.broadcastTransaction(out.signedTx);
    expect(sent.hash).toBe(out.hash);
    const receipt = await provider.waitForTransaction(out.hash, 1, 120_000);
    expect(receipt!.status).toBe(1);
    expect(receipt!.from).toBe(from);
    expect(receipt!.type).toBe(type);
    expect(await provider.getBalance(to)).toBe(before.to + value);
    expect(await provider.getBalance(from)).toBe(before.from - value - receipt!.gasUsed * receipt!.gasPrice);
    expect(parsed.fee).toBeGreaterThanOrEqual(receipt!.gasUsed * receipt!.gasPrice);
  }, 180_000);

  it('finalize refuses a threshold signature of another digest or of another path (BAD_SIGNATURE), and nothing is sent', async () => {
    const from = addressAt('m/0/7');
    const { gasPrice } = await fees();
    const nonce = await provider.getTransactionCount(from);
    const data = unsigned({ type: 0, chainId: CHAIN_ID, nonce, gasPrice, gasLimit: 21000, to: RECIPIENT, value: 1n });
    const other = ethereum.parse(unsigned({ type: 0, chainId: CHAIN_ID, nonce, gasPrice, gasLimit: 21000, to: RECIPIENT, value: 2n }), key, { path: 'm/0/7' });
    refused(() => ethereum.finalize(data, key, { path: 'm/0/7' }, thresholdSign(other, 'm/0/7')), 'BAD_SIGNATURE', 'signatures[0]');
    const mine = ethereum.parse(data, key, { path: 'm/0/7' });
    refused(() => ethereum.finalize(data, key, { path: 'm/0/7' }, thresholdSign(mine, 'm')), 'BAD_SIGNATURE', 'signatures[0]');
    expect(await provider.getTransactionCount(from)).toBe(nonce);
  }, 180_000);
});
