import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { OIDC_PROVIDER_PATCHED_LINE, oidcProviderPatch, oidcProviderPatchedFile } from '../../../src/provider/patched.js';

/**
 * The start-up check that warns when oidc-provider was installed without Gatehouse's patch
 * (src/provider/patched.ts): told apart on the file as the patch leaves it and as it was before,
 * both read off the patch file itself.
 */
const patchFile = path.resolve('patches', readdirSync('patches').find((f) => f.startsWith('oidc-provider+'))!);
const diff = readFileSync(patchFile, 'utf8');

/** The lines of the patch's hunks as they read before (`before`) or after it. */
function side(before: boolean) {
  const hunks = diff.slice(diff.indexOf('\n@@')).split('\n').filter((l) => !l.startsWith('@@') && !l.startsWith('\\'));
  return hunks.filter((l) => (before ? !l.startsWith('+') : !l.startsWith('-'))).map((l) => l.slice(1)).join('\n');
}

describe('oidc-provider patch check', () => {
  it('names the file the patch changes, and the line it checks is what the patch adds', () => {
    expect(diff).toContain(`b/node_modules/oidc-provider/${path.relative(path.resolve('node_modules/oidc-provider'), oidcProviderPatchedFile())}`);
    expect(side(false)).toContain(OIDC_PROVIDER_PATCHED_LINE);
    expect(side(true)).not.toContain(OIDC_PROVIDER_PATCHED_LINE);
  });

  it('finds the patch applied in this install (npm ci ran patch-package)', () => {
    expect(oidcProviderPatch()).toBe('applied');
  });

  it('tells a file without the patch, and one it cannot read', () => {
    expect(oidcProviderPatch(() => side(true))).toBe('missing');
    expect(oidcProviderPatch(() => side(false))).toBe('applied');
    expect(oidcProviderPatch(() => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    })).toBe('unknown');
  });
});
