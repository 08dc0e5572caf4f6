import { readFileSync } from 'node:fs';
import { OPERATIONS } from '../../../src/admin/openapi.js';
import { renderAdminReference } from '../../../src/admin/reference.js';

// With test/integration/admin/openapi.test.ts (every route the admin router serves has an
// operation), this makes an undocumented admin route a failing test.
describe('admin API reference (docs/admin-api-reference.md)', () => {
  const onDisk = readFileSync(new URL('../../../docs/admin-api-reference.md', import.meta.url), 'utf8');

  it('is the generated text: run `npm run docs` after adding or changing a route', () => {
    expect(onDisk).toBe(renderAdminReference());
  });

  it('names every operation', () => {
    const missing = OPERATIONS.filter((op) => !onDisk.includes(`\`${op.method.toUpperCase()} /admin/v1${op.path}\``));
    expect(missing.map((op) => op.operationId)).toEqual([]);
  });
});
