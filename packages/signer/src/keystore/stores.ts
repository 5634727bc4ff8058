/**
 * The stores the `Keystore` front (keystore.ts) runs its operations over, one per table
 * group, all on one open database. Each one's methods run inside the front's transaction.
 */
import { AuditCheckpoints } from './audit-checkpoint.ts';
import { RetiredKeys } from './attestations.ts';
import { PeerBans } from './bans.ts';
import type { StoreContext } from './database.ts';
import { IdentityStore } from './identity.ts';
import { KeyStates } from './key-states.ts';
import { LeaderTokens } from './meta.ts';
import { NonceJournal } from './nonces.ts';
import { PolicyRecords } from './policies.ts';
import { ReplayWindow } from './replay.ts';
import { SessionRecords } from './sessions.ts';
import { ShareStore } from './shares.ts';
import { SpendLedger } from './spend.ts';
import { VelocityLedger } from './velocity.ts';

export interface Stores {
  shares: ShareStore; nonces: NonceJournal; replay: ReplayWindow; identity: IdentityStore; retired: RetiredKeys; bans: PeerBans;
  sessions: SessionRecords; states: KeyStates; policies: PolicyRecords; velocity: VelocityLedger; spend: SpendLedger; audit: AuditCheckpoints; leader: LeaderTokens;
}

export function openStores(ctx: StoreContext): Stores {
  return {
    shares: new ShareStore(ctx),
    nonces: new NonceJournal(ctx),
    replay: new ReplayWindow(ctx),
    identity: new IdentityStore(ctx),
    retired: new RetiredKeys(ctx),
    bans: new PeerBans(ctx),
    sessions: new SessionRecords(ctx),
    states: new KeyStates(ctx),
    policies: new PolicyRecords(ctx),
    velocity: new VelocityLedger(ctx),
    spend: new SpendLedger(ctx),
    audit: new AuditCheckpoints(ctx),
    leader: new LeaderTokens(ctx),
  };
}
