import type { Knex } from 'knex';
import * as m001 from './20261123_001_foundation.js';

export const migrations: Record<string, Knex.Migration> = {
  '20261123_001_foundation': m001,
};
