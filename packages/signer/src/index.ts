/**
 * @keyquorum/signer: the signer daemon (docs/cluster-protocol.md), its config, init,
 * and the sealed keystore it runs on.
 */
export { SignerDaemon, type SignerDeps, type SignerStatus } from './daemon.ts';
export { resolveSignerOptions, resolveKekSource, loadConfigFile, parseListen, type SignerOptions, type ResolvedSignerOptions, type ListenAddress } from './config.ts';
export { initSigner, readPublicKey, type InitOptions, type InitResult } from './init.ts';
export { honestBehaviour, type SignerBehaviour, type SignatureShareInput } from './behaviour.ts';
export { SignerError, isSignerError, type SignerErrorCode, type SignerErrorOptions } from './errors.ts';
export { createLogger, LOG_LEVELS, REDACTED_FIELDS, silentLogger, type LogFields, type Logger, type LoggerOptions, type LogLevel } from '@keyquorum/protocol/logger';
export { encodeSharePublicPart, decodeSharePublicPart, type SharePublicPart, type HeldShare } from './held-share.ts';
export { loadShare } from './schemes/index.ts';
export type { LinkTiming } from './link.ts';
export * from './constants.ts';
export * from './keystore/index.ts';
