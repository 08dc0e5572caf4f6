import Router from '@koa/router';
import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import { form, stepContext, type Pending, type StepContext } from './flow.js';
import { completeUnlessUnverified, nextStep, stepUpOf } from './policy.js';
import { renderConsent, submitConsent } from './steps/consent.js';
import { renderEnroll, renderRecoveryCodes, submitEnroll } from './steps/enroll.js';
import { followIdpHint, resumeFederated } from './steps/federated.js';
import { renderLogin, submitPassword } from './steps/password.js';
import { renderSecondFactor, submitSecondFactor } from './steps/second-factor.js';
import { renderSignUp, signUpOpen, submitSignUp } from './steps/sign-up.js';
import { renderVerifyEmail, submitVerifyEmail } from './steps/verify-email.js';
import { text } from '../views/text/index.js';

/** The login (or sign-up, prompt=create) part of the flow, before consent. */
const signingIn = (sc: StepContext) => sc.interaction.prompt.name === 'login' || sc.interaction.prompt.name === 'create';

/**
 * The pages of a login at `${issuer}/interaction/:uid` (DESIGN.md "Interaction pages"): one file a
 * step under steps/, and policy.ts deciding which step follows a proven credential.
 */
export function interactionRoutes(deps: Deps) {
  const router = new Router({ prefix: '/t/:slug/interaction/:uid' });

  /** Runs `handler` with this browser's interaction; forms also pass the CSRF check. */
  const step = (post: boolean, handler: (sc: StepContext) => Promise<void> | void) => async (ctx: Context) => {
    const sc = await stepContext(deps, ctx, { post });
    if (sc) await handler(sc);
  };
  /** A form of a step after the password: only while the flow is at that step. */
  const at = (expected: Pending['step'], handler: (sc: StepContext, pending: Pending) => Promise<void>) => step(true, async (sc) => {
    if (!signingIn(sc) || sc.pending?.step !== expected) {
      sc.render('error', { title: text.common.forbidden, message: text.common.formExpired }, 403);
      return;
    }
    await handler(sc, sc.pending);
  });

  router.get('/', step(false, async (sc) => {
    if (!signingIn(sc)) return renderConsent(sc);
    const pending = sc.pending;
    if (pending?.step === 'second_factor') return renderSecondFactor(sc);
    if (pending?.step === 'enroll') return renderEnroll(sc, pending);
    if (pending?.step === 'recovery_codes') return renderRecoveryCodes(sc, pending);
    if (pending?.step === 'verify_email') return renderVerifyEmail(sc);
    const stepUp = await stepUpOf(sc);
    if (stepUp) return nextStep(sc, stepUp.accountId, stepUp.amr);
    if (sc.interaction.prompt.name === 'create' && signUpOpen(sc)) return renderSignUp(sc);
    if (await followIdpHint(sc)) return;
    return renderLogin(sc);
  }));

  // A federated login comes back here (federation/finish.ts): this path gets the interaction cookie.
  router.get('/federated', step(false, async (sc) => {
    if (!signingIn(sc) || sc.pending) return sc.render('error', { title: 'Forbidden', message: 'The form expired. Go back and try again.' }, 403);
    await resumeFederated(sc);
  }));

  router.post('/login', form, step(true, async (sc) => {
    if (!signingIn(sc)) return renderConsent(sc);
    await submitPassword(sc);
  }));
  // Sign-up: opened by prompt=create, or from the login page's "Create account" link.
  router.get('/signup', step(false, async (sc) => (signingIn(sc) && signUpOpen(sc) ? renderSignUp(sc) : renderLogin(sc))));
  router.post('/signup', form, step(true, async (sc) => (signingIn(sc) && signUpOpen(sc) ? submitSignUp(sc) : renderLogin(sc, { status: 403 }))));
  router.post('/verify-email', form, at('verify_email', submitVerifyEmail));
  router.post('/mfa', form, at('second_factor', submitSecondFactor));
  router.post('/enroll', form, at('enroll', submitEnroll));
  router.post('/continue', form, at('recovery_codes', (sc, pending) => completeUnlessUnverified(sc, pending.accountId, pending.amr)));
  router.post('/confirm', form, step(true, submitConsent));
  router.post('/abort', form, step(true, (sc) => sc.finish({ error: 'access_denied', error_description: 'End-User aborted interaction' })));

  return router;
}
