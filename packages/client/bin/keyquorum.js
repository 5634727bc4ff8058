#!/usr/bin/env node
// The package ships TypeScript sources: load the CLI through tsx's ESM loader.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
