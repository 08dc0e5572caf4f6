import { errors } from 'oidc-provider';
import { findPermissionsOfResource, findResourceByIdentifier } from '../../domain/rbac/rbac.queries.js';
import { ADMIN_CONSENT, adminResource } from '../../provider/config/resources.js';
import { clientNameOf, type StepContext } from '../flow.js';
import { text } from '../../views/text/index.js';

const listOf = (value: unknown) => (Array.isArray(value) ? value.map(String) : typeof value === 'string' && value ? [value] : []);

/** A requested permission in words: the description its admin wrote, else its name. */
interface PermissionText { name: string; text: string }

/**
 * The resources of this request with the permissions asked of each, as the consent page names
 * them. The admin API takes no permissions: it acts with all of the user's roles, and says so.
 */
async function requestedResources(sc: StepContext) {
  const scopes = String(sc.interaction.params.scope ?? '').split(' ').filter(Boolean);
  const admin = adminResource(sc.deps.config.publicUrl);
  const out: { identifier: string; name: string; permissions: PermissionText[]; admin: boolean }[] = [];
  for (const identifier of listOf(sc.interaction.params.resource)) {
    if (identifier === admin) {
      out.push({ identifier, name: `${text.consent.adminName} ${sc.tenant.name}`, permissions: [], admin: true });
      continue;
    }
    const resource = await findResourceByIdentifier(sc.deps.db, sc.tenant.id, identifier);
    if (!resource) continue;
    const described = new Map((await findPermissionsOfResource(sc.deps.db, sc.tenant.id, resource.id)).map((p) => [p.name, p.description]));
    const asked = scopes.filter((s) => described.has(s));
    out.push({ identifier, name: resource.name, permissions: asked.map((name) => ({ name, text: described.get(name)?.trim() || name })), admin: false });
  }
  return out;
}

/** DESIGN.md "Scopes and claims" in words; any other scope is shown by its name. */
const scopeText = (scope: string) => ({ name: scope, text: text.consent.scopes[scope] ?? `${text.consent.otherScope} ${scope}` });

export async function renderConsent(sc: StepContext) {
  const scopes = String(sc.interaction.params.scope ?? '').split(' ').filter(Boolean);
  const resources = await requestedResources(sc);
  const permissionNames = new Set(resources.flatMap((r) => r.permissions.map((p) => p.name)));
  sc.render('consent', {
    title: text.consent.title,
    clientName: await clientNameOf(sc),
    scopes: scopes.filter((s) => !permissionNames.has(s)).map(scopeText),
    resources,
    action: `${sc.base}/confirm`,
  });
}

/**
 * The grant records what the user consented to: every requested permission of each requested
 * resource. Whether a token carries one is decided by RBAC at each issue (provider/config/
 * resources.ts), so a role granted later holds from the next token, and a role taken away
 * drops the permission at the next refresh (DESIGN.md "RBAC").
 */
export async function submitConsent(sc: StepContext) {
  const { interaction, provider } = sc;
  if (interaction.prompt.name !== 'consent' || !interaction.session?.accountId) {
    sc.render('error', { title: text.common.forbidden, message: text.common.formExpired }, 403);
    return;
  }
  if ((sc.ctx.request as { body?: { decision?: string } }).body?.decision !== 'allow') {
    await sc.finish({ error: 'access_denied', error_description: 'End-User denied the request' }, true);
    return;
  }
  const accountId = interaction.session.accountId;
  const clientId = String(interaction.params.client_id);
  const grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : new provider.Grant({ accountId, clientId });
  // A grant revoked while the page was open (sign out everywhere, a password reset): start over.
  if (!grant) return grantEnded(sc);
  const details = interaction.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const resource of await requestedResources(sc)) {
    grant.addResourceScope(resource.identifier, (resource.admin ? [ADMIN_CONSENT] : resource.permissions.map((p) => p.name)).join(' '));
  }
  let grantId: string;
  try {
    grantId = await grant.save();
  } catch (err) {
    if (err instanceof errors.InvalidGrant) return grantEnded(sc); // revoked under this request
    throw err;
  }
  await sc.finish({ consent: { grantId } }, true);
}

function grantEnded(sc: StepContext) {
  sc.render('error', { title: text.common.forbidden, message: text.common.formExpired }, 403);
}
