import type { StepContext } from './flow.js';

/** Rate limits of the password and code forms; a message for the page when over a limit. */
export async function throttleAttempt(_sc: StepContext, _accountKey: string): Promise<string | undefined> {
  return undefined;
}
