import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';

/**
 * TOTP codes from implementations that share no code with otplib: oathtool (OATH Toolkit, C) where
 * it is installed (CI installs it), else the few lines of RFC 6238 below on node:crypto.
 * `offsetSeconds` moves the clock (e.g. -30 for the previous step).
 */
export function oathtoolCode(base32Secret: string, offsetSeconds = 0): string {
  const when = Date.now() + offsetSeconds * 1000;
  if (!hasOathtool()) {
    if (process.env.CI) throw new Error('oathtool is missing: .ci/run installs it (apt-get install oathtool)');
    return rfc6238(base32Secret, when);
  }
  const at = new Date(when).toISOString().replace('T', ' ').replace(/\..*$/, ' UTC');
  return execFileSync('oathtool', ['--totp', '--base32', '-N', at, base32Secret], { encoding: 'utf8' }).trim();
}

/**
 * The previous step's code, for a test that must keep the current step's code for a later login
 * (each code is accepted once). A code for the step before is accepted only while that step is
 * within ±1 of the server's clock: made in the last moments of a step and checked in the next, it
 * is two steps old and refused. So this waits out the step's last `marginMs` first.
 */
export async function previousStepCode(base32Secret: string, marginMs = 3_000): Promise<string> {
  const intoStep = Date.now() % 30_000;
  if (intoStep > 30_000 - marginMs) await new Promise((r) => setTimeout(r, 30_000 - intoStep + 50));
  return oathtoolCode(base32Secret, -30);
}

let present: boolean | undefined;
export function hasOathtool() {
  if (present === undefined) {
    try {
      execFileSync('oathtool', ['--version'], { stdio: 'ignore' });
      present = true;
    } catch {
      present = false;
    }
  }
  return present;
}

/** RFC 6238 with SHA-1, 30 s steps, 6 digits (RFC 4226 §5.3 dynamic truncation). */
export function rfc6238(base32Secret: string, when = Date.now()): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32Secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(when / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
