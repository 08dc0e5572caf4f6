import { randomBytes } from 'node:crypto';
import { errors } from 'oidc-provider';
import { createKv, type KvStore } from '../../../src/kv/index.js';
import { KvAdapter } from '../../../src/provider/adapters/kv.js';

/**
 * The store the adapter runs on here: Redis when REDIS_URL is set (the PostgreSQL + Redis run),
 * memory otherwise. The interleavings are laid out step by step, so they hold on either.
 */
let kv: KvStore;
const prefix = `ghtest:${randomBytes(4).toString('hex')}:`;

beforeAll(async () => {
  kv = await createKv(process.env.REDIS_URL || undefined);
});
afterAll(async () => {
  await kv.close();
});

function codes() {
  return new KvAdapter(kv, prefix, `t-${randomBytes(4).toString('hex')}`, 'AuthorizationCode');
}

async function storedCode(adapter: KvAdapter) {
  const id = randomBytes(8).toString('hex');
  await adapter.upsert(id, { grantId: `g-${id}`, kind: 'AuthorizationCode' }, 60);
  return { id, grantId: `g-${id}` };
}

describe('KvAdapter.consume', () => {
  it('consumes a code once: the second consume is refused', async () => {
    const adapter = codes();
    const { id } = await storedCode(adapter);
    await adapter.consume(id);
    expect((await adapter.find(id))?.consumed).toEqual(expect.any(Number));
    await expect(adapter.consume(id)).rejects.toBeInstanceOf(errors.InvalidGrant);
  });

  it('refuses a redemption whose code was revoked after it read the code unconsumed', async () => {
    // Three token requests with one code: B reads it unconsumed; A consumes it; C reads it
    // consumed and revokes its grant, which deletes the code; then B consumes.
    const adapter = codes();
    const { id, grantId } = await storedCode(adapter);
    expect((await adapter.find(id))?.consumed).toBeUndefined(); // B
    await adapter.consume(id); // A
    await adapter.revokeByGrantId(grantId); // C
    await expect(adapter.consume(id)).rejects.toBeInstanceOf(errors.InvalidGrant); // B
  });

  it('refuses to consume a code that never existed', async () => {
    await expect(codes().consume('no-such-code')).rejects.toBeInstanceOf(errors.InvalidGrant);
  });
});

describe('KvAdapter.consume of a pushed authorization request', () => {
  it('refuses a second use with the error oidc-provider gives for a used request_uri', async () => {
    const adapter = new KvAdapter(kv, prefix, `t-${randomBytes(4).toString('hex')}`, 'PushedAuthorizationRequest');
    const id = randomBytes(8).toString('hex');
    await adapter.upsert(id, { kind: 'PushedAuthorizationRequest', request: 'eyJ.e30.' }, 60);
    await adapter.consume(id);
    const second = adapter.consume(id);
    await expect(second).rejects.toBeInstanceOf(errors.InvalidRequestUri);
    await expect(second).rejects.toMatchObject({ error: 'invalid_request_uri' });
  });
});
