/**
 * The signing commands of the `keyquorum` CLI (cli.ts):
 *   keyquorum sign ID --message HEX [--path m/44/0/7] [--taproot [--merkle-root HEX]]
 *   keyquorum sign-tx ID --chain ethereum --tx HEX | --chain bitcoin --psbt BASE64
 *                        | --chain solana --message BASE64 [--path P] [--network N]
 * `--taproot` signs for the BIP341 output key of a frost-secp256k1-tr key (key path only,
 * BIP86, or committing to the script tree `--merkle-root`). sign-tx sends the unsigned
 * transaction (docs/transactions.md) and prints the broadcastable one and its id.
 */
import { BITCOIN_NETWORKS, CHAINS, type BitcoinNetwork, type Chain } from '@keyquorum/protocol';
import { UsageError, connect, fields, keyId, need, parse, type CliIo } from './cli-support.ts';
import type { SignedTransaction, SignTxOptions } from './client.ts';

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

/** `keyquorum sign`: a raw message (usually a 32-byte digest). */
export async function sign(args: string[], io: CliIo): Promise<number> {
  const { values: v, positionals } = parse(args, { message: { type: 'string' }, path: { type: 'string' }, taproot: { type: 'boolean' }, 'merkle-root': { type: 'string' } }, 1);
  const message = need(v, 'message');
  if (!HEX.test(message)) throw new UsageError('--message: expected hex bytes');
  const root = v['merkle-root'] as string | undefined;
  if (root !== undefined && v.taproot !== true) throw new UsageError('--merkle-root needs --taproot');
  if (root !== undefined && (!HEX.test(root) || root.length !== 64)) throw new UsageError('--merkle-root: expected 32 bytes of hex');
  const taproot = v.taproot !== true ? undefined : root === undefined ? {} : { merkleRoot: Uint8Array.from(Buffer.from(root, 'hex')) };
  const { client } = connect(v, io);
  const sig = await client.sign(keyId(positionals[0]!), { message, ...(v.path === undefined ? {} : { path: v.path as string }), ...(taproot === undefined ? {} : { taproot }) });
  const rows: Array<[string, string]> = [['signature', sig.signature], ['publicKey', sig.publicKey]];
  if (sig.recoveryId !== undefined) rows.push(['recoveryId', String(sig.recoveryId)]);
  const json = { signature: sig.signature, publicKey: sig.publicKey, ...(sig.recoveryId === undefined ? {} : { recoveryId: sig.recoveryId }) };
  io.out(v.json === true ? `${JSON.stringify(json, null, 2)}\n` : `${fields(rows)}\n`);
  return 0;
}

/** The option that carries each chain's transaction. */
const TX_OPTION: Readonly<Record<Chain, 'tx' | 'psbt' | 'message'>> = { ethereum: 'tx', bitcoin: 'psbt', solana: 'message' };

/** The sign-tx options of the command line, checked (UsageError naming the option). */
export function signTxOptions(v: Record<string, string | boolean | undefined>): SignTxOptions {
  const chain = need(v, 'chain') as Chain;
  if (!CHAINS.includes(chain)) throw new UsageError(`--chain: expected one of ${CHAINS.join(', ')}`);
  const option = TX_OPTION[chain];
  for (const other of Object.values(TX_OPTION)) if (other !== option && v[other] !== undefined) throw new UsageError(`--${other} is not for --chain ${chain} (its transaction goes in --${option})`);
  const tx = need(v, option);
  if (chain === 'ethereum' && !HEX.test(tx.replace(/^0x/i, ''))) throw new UsageError('--tx: expected the unsigned transaction as hex');
  if (chain !== 'ethereum' && (!/^[A-Za-z0-9+/]+={0,2}$/.test(tx) || tx.length % 4 !== 0)) throw new UsageError(`--${option}: expected base64`);
  const o: SignTxOptions = { chain, tx };
  if (v.path !== undefined) {
    if (chain === 'bitcoin') throw new UsageError('--path is not for bitcoin: each PSBT input names its own path');
    o.path = need(v, 'path');
  }
  if (v.network !== undefined) {
    if (chain !== 'bitcoin') throw new UsageError('--network is for bitcoin only');
    const network = need(v, 'network') as BitcoinNetwork;
    if (!BITCOIN_NETWORKS.includes(network)) throw new UsageError(`--network: expected one of ${BITCOIN_NETWORKS.join(', ')}`);
    o.network = network;
  }
  return o;
}

/** The broadcastable transaction and its id, as label/value lines. */
export function signedTxLines(s: SignedTransaction): Array<[string, string]> {
  switch (s.chain) {
    case 'ethereum':
      return [['hash', s.hash], ['from', s.from], ['signedTx', s.signedTx]];
    case 'bitcoin':
      return [['txid', s.txid], ['tx', s.tx], ['psbt', s.psbt]];
    case 'solana':
      return [['signature', s.signature], ['transaction', s.transaction]];
  }
}

/** `keyquorum sign-tx`. */
export async function signTx(args: string[], io: CliIo): Promise<number> {
  const { values: v, positionals } = parse(
    args,
    { chain: { type: 'string' }, tx: { type: 'string' }, psbt: { type: 'string' }, message: { type: 'string' }, path: { type: 'string' }, network: { type: 'string' } },
    1,
  );
  const id = keyId(positionals[0]!);
  const o = signTxOptions(v);
  const signed = await connect(v, io).client.signTx(id, o);
  io.out(v.json === true ? `${JSON.stringify(signed, null, 2)}\n` : `${fields(signedTxLines(signed))}\n`);
  return 0;
}
