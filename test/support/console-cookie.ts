/** A console session for a test: the cookie sealed as the gateway seals it (its key from the gateway's store), for `token`. */
import type { TestGateway } from './gateway.ts';
import { ConsoleCookies, newSid } from '../../src/console/session.ts';

/** `name=value` of a console session cookie for `token` (an API key or access token), valid ten minutes. */
export async function consoleCookie(t: TestGateway, token: string): Promise<string> {
  const cookies = new ConsoleCookies(await t.gw.store.approvals.sharedKey('console-session'), false);
  return cookies.sessionCookie({ token, sid: newSid(), login: 0, exp: Date.now() + 600_000 }).split(';')[0];
}
