import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../src/identity.ts';
import { PolicyDeniedError, parsePolicy, policyDigest, policyFromText, policyToJson, policyToText, type KeyPolicy } from '../src/policy.ts';
import { canonicalAddress } from '../src/policy-tx-rules.ts';
import { checkRawSign, checkTxPolicy, txRequiredApprovals, txTotals } from '../src/policy-tx.ts';
import type { ParsedTx, TxTransfer } from '../src/tx/types.ts';
import { ed25519Approver } from '../../../test/support/passkey.ts';
import { expectWireError, seededRng } from './helpers.ts';

const alice = generateIdentity(seededRng('alice'));
const bob = generateIdentity(seededRng('bob'));
const ALLOWED = '0x' + '11'.repeat(20);
const OTHER = '0x' + '22'.repeat(20);
const TOKEN = '0x' + 'aa'.repeat(20);
const ETH = 10n ** 18n;

const withRules = (transactions: Record<string, unknown>, over: Record<string, unknown> = {}): KeyPolicy =>
  parsePolicy({ format: 1, version: 1, approvers: [ed25519Approver('alice', alice), ed25519Approver('bob', bob)], transactions, ...over });

const tx = (transfers: TxTransfer[], over: Partial<ParsedTx> = {}): ParsedTx => ({
  chain: 'ethereum', network: 'eip155:1', id: 'ab'.repeat(32), targets: [{ input: 0, message: new Uint8Array(32), path: 'm' }],
  transfers, fee: 21_000n * 30_000_000_000n, opaque: [], ...over,
});
const pay = (amount: bigint, to = ALLOWED, asset = 'native'): TxTransfer => ({ asset, to, amount });
const nothingSpent = () => 0n;

function denied(fn: () => void, rule: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyDeniedError);
    expect((e as PolicyDeniedError).rule).toBe(rule);
    return;
  }
  throw new Error(`expected POLICY_DENIED (${rule})`);
}

describe('the transactions section of a policy', () => {
  const full = {
    rawSign: false, networks: ['eip155:1'], destinations: [ALLOWED.toUpperCase().replace('0X', '0x')], maxFee: '2000000000000000',
    limits: [{ asset: 'native', perTransaction: (ETH).toString(), perWindow: (3n * ETH).toString(), windowSeconds: 86_400 }, { asset: TOKEN, perTransaction: '500' }],
    approvalsAbove: [{ asset: 'native', amount: (ETH / 2n).toString(), approvals: 2 }], allowOpaque: false,
  };

  it('round-trips through its canonical JSON and changes the policy digest', () => {
    const p = withRules(full);
    expect(p.transactions!.destinations).toEqual([ALLOWED]);
    expect(parsePolicy(policyToJson(p))).toEqual(p);
    expect(policyFromText(policyToText(p))).toEqual(p);
    const looser = withRules({ ...full, maxFee: '2000000000000001' });
    expect(Buffer.from(policyDigest(looser)).equals(Buffer.from(policyDigest(p)))).toBe(false);
  });

  it('refuses malformed rules naming the field', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ maxFee: '01' }, 'policy.transactions.maxFee'],
      [{ maxFee: 5 }, 'policy.transactions.maxFee'],
      [{ maxFee: (1n << 256n).toString() }, 'policy.transactions.maxFee'],
      [{ limits: [{ asset: 'native', perWindow: '5' }] }, 'policy.transactions.limits[0].windowSeconds'],
      [{ limits: [{ asset: 'native' }] }, 'policy.transactions.limits[0]'],
      [{ approvalsAbove: [{ asset: 'native', amount: '1', approvals: 3 }] }, 'policy.transactions.approvalsAbove[0].approvals'],
      [{ rawSign: 'no' }, 'policy.transactions.rawSign'],
      [{ destinations: ['not an address!'] }, 'policy.transactions.destinations[0]'],
      [{ networks: ['EIP155:1'] }, 'policy.transactions.networks[0]'],
      [{ networks: 'eip155:1' }, 'policy.transactions.networks'],
      [{ destinations: ALLOWED }, 'policy.transactions.destinations'],
      [{ allowOpaque: 1 }, 'policy.transactions.allowOpaque'],
      [{ limits: { asset: 'native', perTransaction: '1' } }, 'policy.transactions.limits'],
      [{ limits: [{ asset: 'not an asset!', perTransaction: '1' }] }, 'policy.transactions.limits[0].asset'],
      [{ limits: [{ asset: 'native', perTransaction: '-1' }] }, 'policy.transactions.limits[0].perTransaction'],
      [{ limits: [{ asset: 'native', perWindow: '1e3', windowSeconds: 60 }] }, 'policy.transactions.limits[0].perWindow'],
      [{ limits: [{ asset: 'native', perWindow: '5', windowSeconds: 0 }] }, 'policy.transactions.limits[0].windowSeconds'],
      [{ limits: [{ asset: 'native', perWindow: '5', windowSeconds: 366 * 86_400 + 1 }] }, 'policy.transactions.limits[0].windowSeconds'],
      [{ approvalsAbove: { asset: 'native', amount: '1', approvals: 1 } }, 'policy.transactions.approvalsAbove'],
      [{ approvalsAbove: [{}] }, 'policy.transactions.approvalsAbove[0].asset'],
      [{ approvalsAbove: [{ asset: 'not an asset!', amount: '1', approvals: 1 }] }, 'policy.transactions.approvalsAbove[0].asset'],
      [{ approvalsAbove: [{ asset: 'native', amount: '1.5', approvals: 1 }] }, 'policy.transactions.approvalsAbove[0].amount'],
    ];
    for (const [rules, field] of bad) expectWireError(() => withRules(rules), 'BAD_FIELD', field);
    expectWireError(() => withRules({ extra: true }), 'UNKNOWN_FIELD');
  });

  it('refuses a window length without a window amount instead of ignoring it (a per-window cap the signer would not enforce)', () => {
    expect(() => withRules({ limits: [{ asset: 'native', perTransaction: '1', windowSeconds: 60 }] })).toThrow(/perWindow and windowSeconds go together/);
    expectWireError(() => withRules({ limits: [{ asset: 'native', perTransaction: '1', windowSeconds: 60 }] }), 'BAD_FIELD', 'policy.transactions.limits[0].windowSeconds');
  });

  it('accepts an amount of exactly 2^256 - 1 and refuses one more, saying why', () => {
    const max = ((1n << 256n) - 1n).toString();
    expect(withRules({ maxFee: max }).transactions!.maxFee).toBe((1n << 256n) - 1n);
    expect(() => withRules({ maxFee: (1n << 256n).toString() })).toThrow(/above 2\^256 - 1/);
  });

  it('names what is wrong in a refusal of a flag or a limit without an amount', () => {
    expect(() => withRules({ rawSign: 'no' })).toThrow(/rawSign: true or false/);
    expect(() => withRules({ limits: [{ asset: 'native' }] })).toThrow(/a limit needs perTransaction or perWindow/);
  });

  it('folds the case only of a whole 0x or bech32 address, so a case-sensitive address cannot stand for another', () => {
    // Base58 (Solana) is case-sensitive: folding one that merely contains "bc1" would let an
    // allow-list entry match another account.
    expect(canonicalAddress('7xKXtg2CWbc1d97TXJSDpbD5jBkheTqA83TZRuJosgAsU')).toBe('7xKXtg2CWbc1d97TXJSDpbD5jBkheTqA83TZRuJosgAsU');
    expect(canonicalAddress('X0xAbCdEf0123456789abcdef0123456789ABCDEF01')).toBe('X0xAbCdEf0123456789abcdef0123456789ABCDEF01');
    expect(canonicalAddress('0xAbCdEf0123456789abcdef0123456789ABCDEF01Ab')).toBe('0xAbCdEf0123456789abcdef0123456789ABCDEF01Ab');
    expect(canonicalAddress('BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT080:0')).toBe('BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT080:0');
  });

  it('keeps a base58 address that merely starts like a bech32 one as given, so an allow-listed Solana account still matches', () => {
    const solana = 'bc1Ayw9PZ3WzjXqMcwDRKmmGfe3nPvcXoXFKBw8gVqmhLV';
    expect(canonicalAddress(solana)).toBe(solana);
    const p = withRules({ destinations: [solana] });
    expect(p.transactions!.destinations).toEqual([solana]);
    expect(() => checkTxPolicy(p, tx([pay(1n, solana)], { chain: 'solana', network: 'solana' }), nothingSpent, 0)).not.toThrow();
    // A bech32 string with a broken checksum is not an address to fold either.
    expect(canonicalAddress('BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT081')).toBe('BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT081');
  });

  it('compares 0x and bech32 addresses case-insensitively, base58 exactly', () => {
    expect(canonicalAddress('0xAbCdEf0123456789abcdef0123456789ABCDEF01')).toBe('0xabcdef0123456789abcdef0123456789abcdef01');
    expect(canonicalAddress('BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT080')).toBe('bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080');
    expect(canonicalAddress('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM')).toBe('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM');
  });
});

describe('checkRawSign', () => {
  it('allows raw signing by default and refuses it when rawSign is false', () => {
    expect(() => checkRawSign(withRules({}))).not.toThrow();
    expect(() => checkRawSign(parsePolicy({ format: 1, version: 1 }))).not.toThrow();
    denied(() => checkRawSign(withRules({ rawSign: false })), 'raw-sign');
  });
});

describe('checkTxPolicy', () => {
  it('lets anything through a policy without transaction rules', () => {
    expect(() => checkTxPolicy(parsePolicy({ format: 1, version: 1 }), tx([pay(100n * ETH, OTHER)], { opaque: ['a contract call'] }), nothingSpent, 0)).not.toThrow();
  });

  it('pins the network', () => {
    const p = withRules({ networks: ['eip155:1', 'eip155:31337'] });
    expect(() => checkTxPolicy(p, tx([pay(1n)], { network: 'eip155:31337' }), nothingSpent, 0)).not.toThrow();
    denied(() => checkTxPolicy(p, tx([pay(1n)], { network: 'eip155:5' }), nothingSpent, 0), 'network');
  });

  it('refuses what it cannot read unless allowOpaque', () => {
    const opaque = tx([], { opaque: ['call 0x12345678 on 0x33…'] });
    denied(() => checkTxPolicy(withRules({}), opaque, nothingSpent, 0), 'opaque');
    expect(() => checkTxPolicy(withRules({ allowOpaque: true }), opaque, nothingSpent, 0)).not.toThrow();
  });

  it('refuses every transfer to a destination outside the allow-list, token transfers included', () => {
    const p = withRules({ destinations: [ALLOWED] });
    expect(() => checkTxPolicy(p, tx([pay(1n), pay(5n, ALLOWED, TOKEN)]), nothingSpent, 0)).not.toThrow();
    denied(() => checkTxPolicy(p, tx([pay(1n), pay(5n, OTHER, TOKEN)]), nothingSpent, 0), 'destination');
    denied(() => checkTxPolicy(withRules({ destinations: [] }), tx([pay(1n)]), nothingSpent, 0), 'destination');
  });

  it('caps the fee at maxFee inclusive', () => {
    const p = withRules({ maxFee: '1000' });
    expect(() => checkTxPolicy(p, tx([], { fee: 1000n }), nothingSpent, 0)).not.toThrow();
    denied(() => checkTxPolicy(p, tx([], { fee: 1001n }), nothingSpent, 0), 'fee');
  });

  it('caps each asset per transaction, summing its transfers', () => {
    const p = withRules({ limits: [{ asset: TOKEN, perTransaction: '500' }] });
    expect(() => checkTxPolicy(p, tx([pay(300n, ALLOWED, TOKEN), pay(200n, OTHER, TOKEN), pay(10n * ETH)]), nothingSpent, 0)).not.toThrow();
    denied(() => checkTxPolicy(p, tx([pay(300n, ALLOWED, TOKEN), pay(201n, OTHER, TOKEN)]), nothingSpent, 0), 'amount');
  });

  it('caps each asset per window with what the ledger recorded since the window began', () => {
    const p = withRules({ limits: [{ asset: 'native', perWindow: '1000', windowSeconds: 60 }] });
    const asked: [string, number][] = [];
    const spent = (asset: string, since: number) => {
      asked.push([asset, since]);
      return 700n;
    };
    expect(() => checkTxPolicy(p, tx([pay(300n)]), spent, 100_000)).not.toThrow();
    expect(asked).toEqual([['native', 40_000]]);
    denied(() => checkTxPolicy(p, tx([pay(301n)]), spent, 100_000), 'amount');
    // A transaction sending none of the asset is not held to its window.
    expect(() => checkTxPolicy(p, tx([pay(5n, ALLOWED, TOKEN)]), () => 5000n, 100_000)).not.toThrow();
  });
});

describe('a refusal says what it refused', () => {
  const message = (fn: () => void): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyDeniedError);
      return (e as Error).message;
    }
    throw new Error('expected POLICY_DENIED');
  };

  it('names the network, the unreadable parts, the destination, the fee and the amounts against their limits', () => {
    expect(message(() => checkRawSign(withRules({ rawSign: false })))).toMatch(/signs parsed transactions only/);
    expect(message(() => checkTxPolicy(withRules({ networks: ['eip155:1', 'eip155:10'] }), tx([], { network: 'eip155:5' }), nothingSpent, 0)))
      .toContain('network eip155:5 is not one of eip155:1, eip155:10');
    expect(message(() => checkTxPolicy(withRules({}), tx([], { opaque: ['call A', 'call B'] }), nothingSpent, 0))).toContain('policy cannot read: call A; call B');
    expect(message(() => checkTxPolicy(withRules({ destinations: [ALLOWED] }), tx([pay(1n, OTHER)]), nothingSpent, 0))).toContain(`${OTHER} is not an allowed destination`);
    expect(message(() => checkTxPolicy(withRules({ maxFee: '1000' }), tx([], { fee: 1001n }), nothingSpent, 0))).toContain('fee up to 1001 is above 1000');
    expect(message(() => checkTxPolicy(withRules({ limits: [{ asset: 'native', perTransaction: '10' }] }), tx([pay(11n)]), nothingSpent, 0)))
      .toContain('11 native is above 10 per transaction');
    expect(message(() => checkTxPolicy(withRules({ limits: [{ asset: 'native', perWindow: '10', windowSeconds: 60 }] }), tx([pay(4n)]), () => 7n, 100_000)))
      .toContain('7 + 4 native is above 10 per 60 s');
  });
});

describe('txRequiredApprovals', () => {
  const p = withRules({ approvalsAbove: [{ asset: 'native', amount: '100', approvals: 1 }, { asset: 'native', amount: '1000', approvals: 2 }] });

  it('asks for the largest threshold a transaction exceeds, strictly', () => {
    expect(txRequiredApprovals(p, tx([pay(100n)]))).toBe(0);
    expect(txRequiredApprovals(p, tx([pay(60n), pay(41n, OTHER)]))).toBe(1);
    expect(txRequiredApprovals(p, tx([pay(1001n)]))).toBe(2);
    expect(txRequiredApprovals(p, tx([pay(5000n, ALLOWED, TOKEN)]))).toBe(0);
  });

  it('never asks fewer than the policy requires for every signature', () => {
    const strict = withRules({ approvalsAbove: [{ asset: 'native', amount: '100', approvals: 1 }] }, { approvals: { sign: 2 } });
    expect(txRequiredApprovals(strict, tx([pay(1n)]))).toBe(2);
    expect(txRequiredApprovals(strict, tx([pay(1000n)]))).toBe(2);
  });

  it('totals per asset', () => {
    expect([...txTotals(tx([pay(1n), pay(2n, OTHER), pay(3n, ALLOWED, TOKEN)]))]).toEqual([['native', 3n], [TOKEN, 3n]]);
  });
});
