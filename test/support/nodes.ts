import { randomBytes } from 'node:crypto';
import { startGatehouse, type Gatehouse } from '../../src/app.js';
import type { Change } from '../../src/domain/changes.js';
import type { TenantRegistry } from '../../src/tenancy/registry.js';
import type { TestGatehouse } from './gatehouse.js';

/**
 * A second Gatehouse on the same PostgreSQL, with a kv prefix of its own, as another node
 * would be. Only with DATABASE_URL: PGlite belongs to one process.
 */
export async function startSecondNode(gh: TestGatehouse, options: { sharedKv?: boolean } = {}): Promise<Gatehouse | undefined> {
  if (!gh.config.databaseUrl) return undefined;
  // With sharedKv (and REDIS_URL) the nodes share their Redis keys, as a real cluster's nodes do.
  const kvPrefix = options.sharedKv ? gh.deps.kvPrefix : `ghtest:${randomBytes(4).toString('hex')}:`;
  return startGatehouse({ ...gh.config, port: 0, publicUrl: '', publicUrlFixed: false }, { kvPrefix });
}

/** Resolves when `registry` has heard of a change to `tenantId` (register before writing). */
export function heard(registry: TenantRegistry, tenantId: string, area: Change['area']) {
  return new Promise<void>((resolve) => {
    const feed = registry.changes!;
    const on = (c: Change) => {
      if (c.tenantId !== tenantId || c.area !== area) return;
      feed.off('change', on);
      resolve();
    };
    feed.on('change', on);
  });
}
