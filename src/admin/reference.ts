import { OPERATIONS, TAGS } from './openapi.js';

/**
 * docs/admin-api-reference.md: every operation of the admin API by tag, from the same lists the
 * OpenAPI document is built from (`npm run docs` writes it; a test compares it), so a route cannot
 * be served without being documented.
 */
export function renderAdminReference() {
  const lines = [
    '# Admin API reference',
    '',
    '<!-- Generated from the operations declared beside each route (src/admin/*/*.routes.ts) by `npm run docs`; do not edit by hand. -->',
    '',
    'Every operation of `${PUBLIC_URL}/admin/v1`. Request and answer schemas, error answers and',
    'examples are in the OpenAPI 3.1 document at `/admin/v1/openapi.json`; how to obtain a token,',
    'errors and pagination are explained in [The admin API](admin-api.md).',
    '',
  ];
  for (const [tag, description] of Object.entries(TAGS)) {
    const ops = OPERATIONS.filter((op) => op.tag === tag);
    if (!ops.length) continue;
    lines.push(`## ${tag}`, '', `${description}.`, '', '| method and path | operationId | what it does |', '|---|---|---|');
    for (const op of ops) {
      const path = `/admin/v1${op.path}`;
      const extra = op.list ? ' (a list: `?limit=&cursor=`)' : '';
      lines.push(`| \`${op.method.toUpperCase()} ${path}\` | \`${op.operationId}\` | ${op.summary.replace(/\|/g, '\\|')}${extra} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
