// Writes docs/configuration.md from the configuration schema (npm run docs:config).
import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../src/config/reference.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigReference());
console.error('wrote docs/configuration.md');
