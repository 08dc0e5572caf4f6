// Writes the generated pages of docs/ (npm run docs): the configuration and admin API references.
import { writeFileSync } from 'node:fs';
import { renderAdminReference } from '../src/admin/reference.js';
import { renderConfigReference } from '../src/config/reference.js';

for (const [file, text] of [['configuration.md', renderConfigReference()], ['admin-api-reference.md', renderAdminReference()]]) {
  writeFileSync(new URL(`../docs/${file}`, import.meta.url), text);
  console.error(`wrote docs/${file}`);
}
