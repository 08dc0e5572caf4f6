import type Provider from 'oidc-provider';
import type { ClientValidator } from '../domain/clients/clients.service.js';
import type { TenantRegistry } from './registry.js';

export class InvalidClientMetadataError extends Error {
  /** `fields`: the metadata names at fault and what is wrong with each, when known. */
  constructor(message: string, readonly fields: { field: string; message: string }[] = []) {
    super(message);
  }
}

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
    const unknown = unrecognizedNames(provider, metadata);
    if (unknown.length) {
      const fields = unknown.map((field) => ({ field, message: 'not a client metadata name this server supports' }));
      throw new InvalidClientMetadataError(`not client metadata this server supports: ${unknown.join(', ')}`, fields);
    }
  };
}

type ClientSchema = new (metadata: Record<string, unknown>) => object;

/**
 * oidc-provider drops metadata names it does not recognise without a word; Gatehouse refuses them,
 * so what is stored is what is served. Client.Schema is what the provider builds a client from: it
 * keeps exactly the names it recognises (those of the enabled features and extraClientMetadata).
 */
function unrecognizedNames(provider: Provider, metadata: Record<string, unknown>) {
  const Schema = (provider.Client as unknown as { Schema?: ClientSchema }).Schema;
  if (typeof Schema !== 'function') throw new Error('oidc-provider no longer exposes Client.Schema');
  const kept = new Schema(metadata);
  return Object.keys(metadata).filter((name) => metadata[name] !== undefined && !Object.hasOwn(kept, name));
}
