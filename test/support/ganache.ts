/**
 * A real local EVM node for tests: the ganache CLI (node_modules/.bin/ganache, 7.9.2,
 * hardfork shanghai: legacy, EIP-2930 and EIP-1559 transactions) as its own child
 * process on 127.0.0.1, answering JSON-RPC over HTTP. Its ten default accounts are
 * unlocked and hold 1000 ETH each; `fund` pays from the first with eth_sendTransaction
 * (instamine: the transaction is mined when the call returns).
 *
 *   const node = await startGanache({ chainId: 31337 });
 *   await node.fund(address, 10n ** 18n);
 *   const provider = new JsonRpcProvider(node.url, node.chainId, { staticNetwork: true });
 *   ...
 *   await node.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './process.ts';
import { freePort } from './wait.ts';

const GANACHE_CLI = path.join(REPO_ROOT, 'node_modules/.bin/ganache');

export interface Ganache {
  /** http://127.0.0.1:<port> */
  url: string;
  chainId: number;
  /** Sends `wei` from an unlocked default account to `address`; resolves once mined (throws if it failed). */
  fund(address: string, wei: bigint): Promise<void>;
  /** Any JSON-RPC call; throws the node's error. */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /** Kills the process and waits for its exit. */
  stop(): Promise<void>;
}

export interface GanacheOptions {
  chainId?: number;
  /** How long to wait for the node to answer (default 90 s: a loaded machine loads ganache slowly). */
  startTimeoutMs?: number;
}

/** A port free right now (the OS picks it; ganache binds it a moment later, so startGanache retries on a clash). */

async function call<T>(url: string, method: string, params: unknown[] = [], timeoutMs = 10_000): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startOnce(chainId: number, timeoutMs: number): Promise<Ganache> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    process.execPath,
    [GANACHE_CLI, '--server.host', '127.0.0.1', '--server.port', String(port), '--chain.chainId', String(chainId), '--wallet.deterministic', '--logging.quiet', '--miner.instamine', 'eager'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };

  // Wait until JSON-RPC answers with our chain id, or the process dies.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`ganache exited (${child.exitCode ?? child.signalCode}) before answering:\n${output.join('').slice(-2000)}`);
    try {
      const id = await call<string>(url, 'eth_chainId', [], 5_000);
      if (BigInt(id) !== BigInt(chainId)) throw new Error(`ganache on ${url} answers chain ${BigInt(id)}, not ${chainId}`);
      break;
    } catch (e) {
      if ((e as Error).message.includes('answers chain')) {
        await stop();
        throw e;
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`ganache did not answer on ${url} within ${timeoutMs} ms:\n${output.join('').slice(-2000)}`);
      }
      await delay(200);
    }
  }

  const rpc = <T>(method: string, params: unknown[] = []) => call<T>(url, method, params, 30_000);
  const [funder] = await rpc<string[]>('eth_accounts');
  return {
    url,
    chainId,
    rpc,
    stop,
    async fund(address, wei) {
      const hash = await rpc<string>('eth_sendTransaction', [{ from: funder, to: address, value: `0x${wei.toString(16)}` }]);
      for (;;) {
        const receipt = await rpc<{ status: string } | null>('eth_getTransactionReceipt', [hash]);
        if (receipt !== null) {
          if (receipt.status !== '0x1') throw new Error(`funding ${address} failed: ${JSON.stringify(receipt)}`);
          return;
        }
        await delay(100);
      }
    },
  };
}

/** Starts ganache on a free port of 127.0.0.1 (retrying on a port clash) and waits until it answers JSON-RPC. */
export async function startGanache(opts: GanacheOptions = {}): Promise<Ganache> {
  const chainId = opts.chainId ?? 1337;
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(chainId, opts.startTimeoutMs ?? 90_000);
    } catch (e) {
      last = e;
      // Only a process that died at start (a port taken between freePort and bind) is retried.
      if (!(e as Error).message.startsWith('ganache exited')) throw e;
    }
  }
  throw last;
}
