import Router from '@koa/router';
import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import { form, stepContext, type Pending, type StepContext } from './flow.js';
import { completeLogin, nextStep, stepUpOf } from './policy.js';
import { renderConsent, submitConsent } from './steps/consent.js';
import { renderEnroll, renderRecoveryCodes, submitEnroll } from './steps/enroll.js';
import { renderLogin, submitPassword } from './steps/password.js';
import { renderSecondFactor, submitSecondFactor } from './steps/second-factor.js';

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
    if (sc.interaction.prompt.name !== 'login' || sc.pending?.step !== expected) {
      sc.render('error', { title: 'Forbidden', message: 'The form expired. Go back and try again.' }, 403);
      return;
    }
    await handler(sc, sc.pending);
  });

  router.get('/', step(false, async (sc) => {
    if (sc.interaction.prompt.name !== 'login') return renderConsent(sc);
    const pending = sc.pending;
    if (pending?.step === 'second_factor') return renderSecondFactor(sc);
    if (pending?.step === 'enroll') return renderEnroll(sc, pending);
    if (pending?.step === 'recovery_codes') return renderRecoveryCodes(sc, pending);
    const stepUp = stepUpOf(sc);
    if (stepUp) return nextStep(sc, stepUp.accountId, stepUp.amr);
    return renderLogin(sc);
  }));

  router.post('/login', form, step(true, async (sc) => {
    if (sc.interaction.prompt.name !== 'login') return renderConsent(sc);
    await submitPassword(sc);
  }));
  router.post('/mfa', form, at('second_factor', submitSecondFactor));
  router.post('/enroll', form, at('enroll', submitEnroll));
  router.post('/continue', form, at('recovery_codes', (sc, pending) => completeLogin(sc, pending.accountId, pending.amr)));
  router.post('/confirm', form, step(true, submitConsent));
  router.post('/abort', form, step(true, (sc) => sc.finish({ error: 'access_denied', error_description: 'End-User aborted interaction' })));

  return router;
}
