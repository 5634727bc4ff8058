/**
 * The chain modules, loaded on first use: each pulls in its chain's library (ethers,
 * @scure/btc-signer, @solana/kit), which processes that never sign a transaction
 * should not pay for at start-up.
 */
import { WireError } from '../errors.ts';
import { CHAINS, type Chain, type ChainModule } from './types.ts';

export * from './types.ts';

const loaders: Readonly<Record<Chain, () => Promise<ChainModule>>> = {
  ethereum: async () => (await import('./ethereum.ts')).ethereum,
  bitcoin: async () => (await import('./bitcoin.ts')).bitcoin,
  solana: async () => (await import('./solana.ts')).solana,
};
const loaded = new Map<Chain, ChainModule>();

/** The module of `chain`, imported once. */
export async function loadChain(chain: Chain): Promise<ChainModule> {
  if (!(CHAINS as readonly string[]).includes(chain)) throw new WireError('BAD_FIELD', { field: 'tx.chain', message: `BAD_FIELD: tx.chain: one of ${CHAINS.join(', ')}` });
  let m = loaded.get(chain);
  if (m === undefined) {
    m = await loaders[chain]();
    loaded.set(chain, m);
  }
  return m;
}

/** The module of `chain` if `loadChain` already imported it (for synchronous paths that awaited it before). */
export function loadedChain(chain: Chain): ChainModule | undefined {
  return loaded.get(chain);
}
