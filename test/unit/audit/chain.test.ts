import { canonicalJson, findChainBreak, GENESIS_HASH, hashAuditRow, type AuditRow } from '../../../src/audit/chain.js';

function chain(n: number) {
  const rows: (AuditRow & { hash: string })[] = [];
  let prev = GENESIS_HASH;
  for (let i = 1; i <= n; i++) {
    const row: AuditRow = { tenant_id: 't', id: i, at: new Date(1_700_000_000_000 + i).toISOString(), type: 'user.created', actor: 'cli', subject: `u${i}`, ip: null, user_agent: null, outcome: 'success', details: { b: 1, a: [i] }, prev_hash: prev };
    prev = hashAuditRow(row);
    rows.push({ ...row, hash: prev });
  }
  return rows;
}

describe('audit hash chain', () => {
  it('accepts an intact chain', () => {
    expect(findChainBreak(chain(5))).toBeUndefined();
  });
  it('finds an edited row', () => {
    const rows = chain(5);
    rows[2] = { ...rows[2], subject: 'someone-else' };
    expect(findChainBreak(rows)).toEqual({ id: 3, reason: 'hash_mismatch' });
  });
  it('finds a deleted row', () => {
    const rows = chain(5);
    rows.splice(1, 1);
    expect(findChainBreak(rows)).toEqual({ id: 3, reason: 'gap' });
  });
  it('hashes details independent of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe(canonicalJson({ a: { c: 3, d: 2 }, b: 1 }));
  });
});
