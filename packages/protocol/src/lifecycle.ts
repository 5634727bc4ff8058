/**
 * One service lifecycle for every long-lived part (the js-libp2p habit): `start()` /
 * `stop()`, status `stopped -> starting -> started -> stopping -> stopped`. A
 * composite service starts its parts in order through a `StartStack`; when one part
 * fails to start, the parts already started are stopped in reverse order and the
 * error is rethrown, so a failed start leaves nothing listening, dialling or open.
 * Written once here; the coordinator, the signer daemon and their parts (WebSocket
 * server, coordinator link, health endpoint, registry, keystore) use it.
 */

export type ServiceStatus = 'stopped' | 'starting' | 'started' | 'stopping';

/** A part with a lifecycle. `stop()` is idempotent and never throws for a part that is already stopped. */
export interface Startable {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** Parts started so far, stopped in reverse. */
export class StartStack {
  readonly #started: Startable[] = [];

  /** Starts `part` and remembers it for `stopAll()`; returns it for chaining into a field. */
  async start<T extends Startable>(part: T): Promise<T> {
    await part.start();
    this.#started.push(part);
    return part;
  }

  /** Remembers a part that came up already started (opened by a factory). */
  adopt<T extends Startable>(part: T): T {
    this.#started.push(part);
    return part;
  }

  /** Stops every remembered part, last first; every part is stopped even if one throws, then the first error is rethrown. */
  async stopAll(): Promise<void> {
    let first: unknown;
    let failed = false;
    while (this.#started.length > 0) {
      const part = this.#started.pop()!;
      try {
        await part.stop();
      } catch (e) {
        if (!failed) first = e;
        failed = true;
      }
    }
    if (failed) throw first;
  }
}

/**
 * Base of a composite service. Subclasses implement `startParts(stack)` (start each part
 * through `stack`) and may implement `afterStop()`; `wrongStatus(message)` builds the
 * package's own typed error for a start while not stopped.
 */
export abstract class Service implements Startable {
  #status: ServiceStatus = 'stopped';
  #stack = new StartStack();
  #stopping: Promise<void> | undefined;

  get status(): ServiceStatus {
    return this.#status;
  }

  protected abstract startParts(stack: StartStack): Promise<void>;
  protected abstract wrongStatus(message: string): Error;
  /** Clears references to stopped parts; runs after every stop, also after a failed start. */
  protected afterStop(): void {}

  async start(): Promise<void> {
    if (this.#status !== 'stopped') throw this.wrongStatus(`cannot start while ${this.#status}`);
    this.#status = 'starting';
    this.#stack = new StartStack();
    try {
      await this.startParts(this.#stack);
      this.#status = 'started';
    } catch (e) {
      await this.#stack.stopAll().catch(() => undefined);
      this.afterStop();
      this.#status = 'stopped';
      throw e;
    }
  }

  async stop(): Promise<void> {
    if (this.#status === 'stopped') return;
    if (this.#status === 'stopping') return this.#stopping;
    if (this.#status === 'starting') throw this.wrongStatus('cannot stop while starting');
    this.#status = 'stopping';
    this.#stopping = this.#stack.stopAll().finally(() => {
      this.afterStop();
      this.#status = 'stopped';
      this.#stopping = undefined;
    });
    return this.#stopping;
  }
}
