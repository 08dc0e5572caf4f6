import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import { resolveMasterKey } from '../../../src/security/secrets.js';
import { clientCredentialsToken } from '../../support/admin.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
beforeAll(async () => {
  gh = await startTestGatehouse({ bootstrap: { clientId: 'ops-bootstrap', clientSecret: 'first-secret-0123456789abcdef' } });
});
afterAll(() => gh.stop());

const rotations = async () => {
  const system = (await findTenantBySlug(gh.deps.db, 'system'))!;
  return gh.deps.db('audit_events').where({ tenant_id: system.id, type: 'client.secret_rotated', subject: 'client:ops-bootstrap' }).select('actor', 'details');
};

describe('GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET changed between starts', () => {
  it('rotates the bootstrap client to the configured secret, audited, and does nothing when it matches', async () => {
    await expect(clientCredentialsToken(gh, 'system', 'ops-bootstrap', 'first-secret-0123456789abcdef')).resolves.toBeTruthy();
    gh.config.bootstrap.clientSecret = 'second-secret-0123456789abcdef';
    await gh.restart();
    await expect(clientCredentialsToken(gh, 'system', 'ops-bootstrap', 'second-secret-0123456789abcdef')).resolves.toBeTruthy();
    await expect(clientCredentialsToken(gh, 'system', 'ops-bootstrap', 'first-secret-0123456789abcdef')).rejects.toMatchObject({ error: 'invalid_client' });
    expect(await rotations()).toEqual([{ actor: 'system', details: { reason: 'bootstrap_config' } }]);
    expect(logLines.some((l) => l.includes('bootstrap.client_secret_rotated'))).toBe(true);

    await gh.restart(); // same secret: nothing happens
    expect(await rotations()).toHaveLength(1);
    expect(logLines.join('\n')).not.toContain('second-secret-0123456789abcdef');
  });
});

describe('a master key file with DATABASE_URL set', () => {
  it('warns that a second node would generate a key of its own', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gh-key-'));
    try {
      const warnings: string[] = [];
      resolveMasterKey(undefined, dir, (event, m) => warnings.push(`${event} ${m}`), { shared: true });
      resolveMasterKey(undefined, dir, (event, m) => warnings.push(`${event} ${m}`), { shared: true }); // read back: still warned
      const local = warnings.filter((w) => w.startsWith('config.master_key_local'));
      expect(local).toHaveLength(2);
      expect(local[0]).toContain('GATEHOUSE_MASTER_KEY is not set but DATABASE_URL is');
      expect(local[0]).toContain('second node');
      const none: string[] = [];
      resolveMasterKey(undefined, dir, (event, m) => none.push(`${event} ${m}`), { shared: false });
      expect(none).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
