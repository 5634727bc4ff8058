import { describe, expect, it } from 'vitest';
import { Service, StartStack, WireError, type StartStack as Stack, type Startable } from '../src/index.ts';

function part(name: string, log: string[], opts: { failStart?: boolean; failStop?: boolean } = {}): Startable {
  return {
    start() {
      if (opts.failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
      if (opts.failStop) throw new Error(`${name} cannot stop`);
    },
  };
}

class Composite extends Service {
  constructor(readonly parts: Startable[]) {
    super();
  }
  protected async startParts(stack: Stack): Promise<void> {
    for (const p of this.parts) await stack.start(p);
  }
  protected wrongStatus(message: string): Error {
    return new WireError('BAD_FIELD', { field: 'status', message });
  }
}

describe('Service lifecycle', () => {
  it('a failed start stops the parts already started, last first, rethrows, and leaves the service stopped', async () => {
    const log: string[] = [];
    const svc = new Composite([part('a', log), part('b', log), part('c', log, { failStart: true }), part('d', log)]);
    await expect(svc.start()).rejects.toThrow('c cannot start');
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    expect(svc.status).toBe('stopped');
  });

  it('stops every part in reverse order, once, and refuses a second start while started', async () => {
    const log: string[] = [];
    const svc = new Composite([part('a', log), part('b', log)]);
    await svc.start();
    expect(svc.status).toBe('started');
    await expect(svc.start()).rejects.toThrow(/cannot start while started/);
    await Promise.all([svc.stop(), svc.stop()]);
    await svc.stop();
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    expect(svc.status).toBe('stopped');
  });

  it('a part that fails to stop does not keep the others running; the first error is rethrown', async () => {
    const log: string[] = [];
    const stack = new StartStack();
    await stack.start(part('a', log));
    await stack.start(part('b', log, { failStop: true }));
    await stack.start(part('c', log, { failStop: true }));
    await expect(stack.stopAll()).rejects.toThrow('c cannot stop');
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });
});
