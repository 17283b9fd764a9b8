import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gatewaySubject, personSubject } from './principal.ts';

test("a person's subject is trimmed, and refused when it would read as a service key's or a credential-less caller's (walk S, F7)", () => {
  assert.deepEqual(personSubject('  alice@example.com '), { subject: 'alice@example.com' });
  assert.deepEqual(personSubject('Ālice Ωmega'), { subject: 'Ālice Ωmega' }, 'a name in another script is a name');
  for (const [given, why] of [
    ['', /is empty/],
    ['   ', /is empty/],
    ['x'.repeat(257), /longer than 256/],
    ['apikey:svc', /written like a service key's subject/],
    [' apikey:svc', /written like a service key's subject/],
    ['APIKEY:svc', /written like a service key's subject/],
    ['ApiKey:svc', /written like a service key's subject/],
    ['\u3000apikey:svc', /written like a service key's subject/],
    ['ＡＰＩＫＥＹ：svc', /written like a service key's subject/],
    ['api key:svc', /written like a service key's subject/],
    ['\u200bapikey:svc', /control or invisible/],
    ['al\u0000ice', /control or invisible/],
    ['ali\u202ece', /control or invisible/],
    ['anonymous', /callers without a credential/],
    [' local ', /callers without a credential/],
  ] as const) {
    const r = personSubject(given);
    assert.ok('refused' in r, JSON.stringify(given));
    assert.match(r.refused, why, JSON.stringify(given));
  }
});

test("an identity provider's sub that reads as a service key's, in any case or after spaces, is the gateway's own", () => {
  for (const sub of ['apikey:x', 'APIKEY:x', ' apikey:x', 'ＡＰＩＫＥＹ：x', 'anonymous', 'local'])
    assert.ok(gatewaySubject(sub), sub);
  for (const sub of ['apikey', 'alice:apikey:x', 'Anonymous', 'alice']) assert.equal(gatewaySubject(sub), false, sub);
});
