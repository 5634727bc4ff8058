/**
 * The order `npm test` starts its files in: the longest first (longest-processing-time
 * scheduling over vitest's two workers), so no long end-to-end file starts near the end
 * while the other worker has nothing left to run. vitest's own order on a clean clone
 * (no results cache, as in CI) is by file size, which put long end-to-end files last.
 * Seconds per file: test/support/durations.json, the per-file figures of a full run's
 * default reporter (a stale or missing figure only changes the order, never what runs).
 * Files it does not list (new ones) go first, in vitest's order.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS = JSON.parse(fs.readFileSync(new URL('./durations.json', import.meta.url), 'utf8')) as Record<string, number>;

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const seconds = (f: TestSpecification) => SECONDS[path.relative(f.project.config.root, f.moduleId).split(path.sep).join('/')] ?? Infinity;
    // Array.prototype.sort is stable: unknown files (Infinity) keep vitest's order among themselves.
    return base.map((f) => ({ f, s: seconds(f) })).sort((a, b) => (a.s === b.s ? 0 : b.s - a.s)).map(({ f }) => f);
  }
}
