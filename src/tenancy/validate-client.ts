import type { ClientValidator } from '../domain/clients/clients.service.js';
import type { TenantRegistry } from './registry.js';

export class InvalidClientMetadataError extends Error {}

/** Client metadata is checked by the tenant's own provider, exactly as it will load it. */
export function clientValidator(registry: TenantRegistry): ClientValidator {
  return async (tenant, metadata) => {
    const provider = await registry.providerFor(tenant);
    if (!provider) throw new InvalidClientMetadataError('unknown tenant');
    try {
      await provider.Client.validate(metadata as any);
    } catch (err) {
      const e = err as { error?: string; error_description?: string; message?: string };
      if (e.error) throw new InvalidClientMetadataError(e.error_description ?? e.error);
      throw err;
    }
  };
}
