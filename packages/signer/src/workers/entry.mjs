// Crypto worker bootstrap: the package ships TypeScript sources, and a worker does not
// inherit the main thread's loader, so register tsx's ESM loader here, then load the
// worker module (`worker.ts`) named by the pool.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
