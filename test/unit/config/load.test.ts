import { ConfigError, loadConfig } from '../../../src/config/load.js';

describe('configuration', () => {
  it('has the embedded defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 3000, publicUrl: 'http://localhost:3000', dataDir: './data', bcryptCost: 12, logLevel: 'info' });
    expect(c.databaseUrl).toBeUndefined();
  });
  it.each([
    [{ PORT: 'abc' }, /PORT/],
    [{ PUBLIC_URL: 'http://x.example/' }, /PUBLIC_URL must not end with a slash/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ GATEHOUSE_MASTER_KEY: 'short' }, /GATEHOUSE_MASTER_KEY must be 32 bytes/],
    [{ NODE_ENV: 'production' }, /GATEHOUSE_MASTER_KEY is required/],
    [{ BCRYPT_COST: '3' }, /BCRYPT_COST/],
    [{ GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL: 'a@b.co' }, /GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD/],
  ])('stops with one line naming the variable for %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
