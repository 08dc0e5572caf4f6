import { readFileSync } from 'node:fs';
import { EnvSchema } from '../../../src/config/env.js';
import { CONFIG_REFERENCE, errorLineFor, renderConfigReference } from '../../../src/config/reference.js';

describe('configuration reference (docs/configuration.md)', () => {
  it('is the generated text: run `npm run docs:config` after changing the configuration', () => {
    const onDisk = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    expect(onDisk).toBe(renderConfigReference());
  });

  it('documents every variable the schema reads, and no other', () => {
    expect(Object.keys(CONFIG_REFERENCE).sort()).toEqual(Object.keys(EnvSchema.shape).sort());
  });

  it.each(Object.entries(CONFIG_REFERENCE).filter(([, e]) => e.mistake !== undefined))('shows one line naming %s for its mistake', (name, entry) => {
    const line = errorLineFor(name as keyof typeof CONFIG_REFERENCE, entry.mistake!);
    expect(line).toMatch(new RegExp(`^Invalid configuration: ${name} `));
    expect(line).not.toContain('\n');
  });
});
