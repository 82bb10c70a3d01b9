#!/usr/bin/env node
// The haproxy-reload command: a committed entry point, so npm links it before dist/ is built.
import { run } from './run.js';

await run('haproxy-reload');
