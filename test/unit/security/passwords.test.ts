import { checkPasswordPolicy, isCommonPassword, MAX_PASSWORD_LENGTH } from '../../../src/security/passwords.js';

const policy = { min_length: 8, block_common: true };

describe('password policy', () => {
  it('refuses a password shorter than the minimum, naming the rule', () => {
    expect(checkPasswordPolicy('abc', policy)).toBe('must be at least 8 characters');
    expect(checkPasswordPolicy('a long enough one', { min_length: 20 })).toBe('must be at least 20 characters');
    // Characters, not UTF-16 units: four emoji are four characters.
    expect(checkPasswordPolicy('😀😀😀😀', { min_length: 5, block_common: false })).toBe('must be at least 5 characters');
  });

  it.each(['password', '123456789', 'qwertyuiop', 'iloveyou', 'PassWord', 'Football'])('refuses the common password %j', (pw) => {
    expect(checkPasswordPolicy(pw, policy)).toBe('is one of the most common passwords');
  });

  it('lets a common password pass when block_common is off', () => {
    expect(checkPasswordPolicy('password', { min_length: 8, block_common: false })).toBeUndefined();
  });

  it('accepts a long uncommon password', () => {
    expect(checkPasswordPolicy('correct horse battery staple', policy)).toBeUndefined();
  });

  it('refuses what bcrypt would cut and anything over the maximum length', () => {
    expect(checkPasswordPolicy('x'.repeat(MAX_PASSWORD_LENGTH + 1), policy)).toBe('must be at most 1024 characters');
    expect(checkPasswordPolicy('é'.repeat(40), policy)).toBe('must be at most 72 bytes');
  });

  it('ships at least 10,000 common passwords, compared case-insensitively', () => {
    expect(isCommonPassword('123456')).toBe(true);
    expect(isCommonPassword('DRAGON')).toBe(true);
    expect(isCommonPassword('# the 10,000 most common passwords')).toBe(false); // the header is no entry
    expect(isCommonPassword('correct horse battery staple')).toBe(false);
  });

  it('takes a bare number as the minimum length, still refusing common passwords', () => {
    expect(checkPasswordPolicy('abc', 8)).toBe('must be at least 8 characters');
    expect(checkPasswordPolicy('password', 8)).toBe('is one of the most common passwords');
  });
});
