#!/usr/bin/env node
// The confd-haproxy command: a committed entry point, so npm links it before dist/ is built.
import { run } from './run.js';

await run('confd-haproxy');
