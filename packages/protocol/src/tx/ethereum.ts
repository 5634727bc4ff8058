/** Placeholder until the ethereum module lands (docs/transactions.md). */
import { TxError, type ChainModule } from './types.ts';

const missing = (): never => { throw new TxError('UNSUPPORTED_TX', 'tx.chain', 'ethereum transactions are not built yet'); };
export const ethereum: ChainModule = { chain: 'ethereum', parse: missing, finalize: missing };
