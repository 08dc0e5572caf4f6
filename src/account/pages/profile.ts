import { changeUser } from '../../domain/users/users.service.js';
import { field, type Account } from '../page.js';
import { text } from '../../views/text/index.js';

const MAX_NAME = 200; // as the admin API (admin/users/users.schema.ts)

export function renderProfile(account: Account, extra: { notice?: string; error?: string; status?: number } = {}) {
  account.render('account', { title: text.account.title, section: 'profile', notice: extra.notice, error: extra.error }, extra.status);
}

/** `name`, `given_name`, `family_name`; an empty field clears the claim. Audited as user.updated. */
export async function submitProfile(account: Account) {
  const value = (name: string) => field(account.ctx, name, MAX_NAME + 1).trim();
  const fields = { name: value('name'), givenName: value('given_name'), familyName: value('family_name') };
  if (Object.values(fields).some((v) => v.length > MAX_NAME)) return renderProfile(account, { error: `Each name may be at most ${MAX_NAME} characters.`, status: 400 });
  const changed = await changeUser(account.deps, account.tenant, account.user.id, {
    name: fields.name || null, givenName: fields.givenName || null, familyName: fields.familyName || null,
  }, account.actor);
  if (changed) account.user = changed;
  renderProfile(account, { notice: text.account.saved });
}
