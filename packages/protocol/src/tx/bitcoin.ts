/** Placeholder until the bitcoin module lands (docs/transactions.md). */
import { TxError, type ChainModule } from './types.ts';

const missing = (): never => { throw new TxError('UNSUPPORTED_TX', 'tx.chain', 'bitcoin transactions are not built yet'); };
export const bitcoin: ChainModule = { chain: 'bitcoin', parse: missing, finalize: missing };
