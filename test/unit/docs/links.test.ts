import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
const anchorsOf = (text: string) => new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchorOf(m[1])));

describe('documentation that ships with the product', () => {
  it.each(pages)('%s links only to pages and headings that exist in the repository', (page) => {
    const text = readFileSync(join(root, page), 'utf8');
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // http(s), mailto: outside links are the reader's
      const [path, anchor] = target.split('#');
      const file = path ? resolve(dirname(join(root, page)), path) : join(root, page);
      if (!file.startsWith(root + '/') && file !== root) broken.push(`${target} (outside the repository)`);
      else if (!existsSync(file)) broken.push(`${target} (no such file)`);
      else if (anchor && file.endsWith('.md') && !anchorsOf(readFileSync(file, 'utf8')).has(anchor)) broken.push(`${target} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });

  it('never sends the reader outside the repository for the contract or the style', () => {
    for (const page of pages) expect(readFileSync(join(root, page), 'utf8')).not.toMatch(/\.\.\/shared\//);
  });
});
