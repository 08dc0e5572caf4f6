import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { kvKey, type KvStore } from '../../kv/store.js';

interface Stored {
  payload: AdapterPayload;
  expiresAt: number; // epoch ms
}

/** Short-lived, hot artifacts (interactions, codes, replay detection, PAR) in Redis or memory. */
export class KvAdapter implements Adapter {
  constructor(private readonly kv: KvStore, private readonly prefix: string, private readonly tenantId: string, private readonly model: string) {}

  private key(...parts: string[]) {
    return kvKey(this.prefix, this.tenantId, 'oidc', ...parts);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    const ttl = Math.max(1, expiresIn || 3600);
    const key = this.key(this.model, id);
    // Issued together: Redis gets them in one write (node-redis pipelines commands of one tick).
    await Promise.all([
      this.kv.set(key, JSON.stringify({ payload, expiresAt: Date.now() + ttl * 1000 } satisfies Stored), ttl),
      payload.grantId && this.kv.sadd(this.key('grant', payload.grantId), key, ttl),
      payload.userCode && this.kv.set(this.key(this.model, 'userCode', payload.userCode), id, ttl),
      payload.uid && this.kv.set(this.key(this.model, 'uid', payload.uid), id, ttl),
    ]);
  }

  private async read(id: string): Promise<Stored | undefined> {
    const raw = await this.kv.get(this.key(this.model, id));
    return raw ? (JSON.parse(raw) as Stored) : undefined;
  }

  async find(id: string) {
    return (await this.read(id))?.payload;
  }

  async findByUid(uid: string) {
    const id = await this.kv.get(this.key(this.model, 'uid', uid));
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode: string) {
    const id = await this.kv.get(this.key(this.model, 'userCode', userCode));
    return id ? this.find(id) : undefined;
  }

  /**
   * oidc-provider checks `consumed`, then consumes: two redemptions at the same instant would both
   * pass its check. The first to count here wins; the other is refused (RFC 6749 §4.1.2: a code
   * is used once). A source gone by now was revoked under the caller: a third redemption saw it
   * consumed and revoked its grant, which deletes it (but not its counter). Refused too, or the
   * caller would issue tokens of a grant already revoked.
   */
  async consume(id: string) {
    const stored = await this.read(id);
    if (!stored) throw this.alreadyUsed();
    const ttl0 = Math.max(1, Math.ceil((stored.expiresAt - Date.now()) / 1000));
    if ((await this.kv.incr(this.key(this.model, 'consumed', id), ttl0)) > 1) throw this.alreadyUsed();
    stored.payload.consumed = Math.floor(Date.now() / 1000);
    const ttl = Math.max(1, Math.ceil((stored.expiresAt - Date.now()) / 1000));
    await this.kv.set(this.key(this.model, id), JSON.stringify(stored), ttl);
  }

  /** The error oidc-provider itself gives for a source found already consumed. */
  private alreadyUsed() {
    return this.model === 'PushedAuthorizationRequest'
      ? new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used')
      : new errors.InvalidGrant('grant source already consumed');
  }

  async destroy(id: string) {
    await this.kv.del(this.key(this.model, id));
  }

  async revokeByGrantId(grantId: string) {
    const index = this.key('grant', grantId);
    const keys = await this.kv.smembers(index);
    await this.kv.del(...keys, index);
  }
}
