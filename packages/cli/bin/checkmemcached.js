#!/usr/bin/env node
// The checkmemcached command: a committed entry point, so npm links it before dist/ is built.
import { run } from './run.js';

await run('checkmemcached');
