#!/usr/bin/env node
// Entry of the `joinservice` command; the TypeScript sources are compiled to dist/ by `npm run build` (run by `prepare` on `npm ci`).
import { main } from '../dist/src/main/cli/main.js';

await main(process.argv.slice(2));
