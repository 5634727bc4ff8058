/** Placeholder until the solana module lands (docs/transactions.md). */
import { TxError, type ChainModule } from './types.ts';

const missing = (): never => { throw new TxError('UNSUPPORTED_TX', 'tx.chain', 'solana transactions are not built yet'); };
export const solana: ChainModule = { chain: 'solana', parse: missing, finalize: missing };
