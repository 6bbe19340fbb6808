// The oracles themselves, on published vectors: http_ece decrypts RFC 8291 Appendix A with
// the parameters lib.mjs uses, and the node:crypto VAPID check accepts spec/push.md §9.2's
// JWT and rejects tampered ones. If these fail, the end-to-end results mean nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import ece from 'http_ece';
import { verifyVapidJwt, parseVapidAuthorization, parseEceHeader } from './lib.mjs';

const rfc8291 = {
  uaPrivate: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
  uaPublic: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
  auth: 'BTBZMqHH6r4Tts7J_aSIgg',
  body:
    'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
  plaintext: 'When I grow up, I want to be a watermelon',
};

const vapidVector = {
  publicKey: 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8',
  jwt:
    'eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL2ZjbS5nb29nbGVhcGlzLmNvbSIsImV4cCI6MTcwMDA0MzIwMCwic3ViIjoibWFpbHRvOmFkbWluQGhhcGkucnVuIn0.0PxZpH0upll7x0SLibv4rqzVULQRWwzECEHpsKek-Uw5IODd__5d5e8mbSFWWyItGLYdJXCevVppLxeCw9iAjQ',
};

test('http_ece decrypts RFC 8291 Appendix A', () => {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(rfc8291.uaPrivate, 'base64url'));
  assert.equal(ecdh.getPublicKey('base64url'), rfc8291.uaPublic);
  const body = Buffer.from(rfc8291.body, 'base64url');
  const auth = Buffer.from(rfc8291.auth, 'base64url');
  const plain = ece.decrypt(body, { version: 'aes128gcm', privateKey: ecdh, authSecret: auth });
  assert.equal(plain.toString('utf8'), rfc8291.plaintext);
  assert.equal(parseEceHeader(body).rs, 4096);
  // A flipped ciphertext bit or the wrong auth secret is rejected.
  const bad = Buffer.from(body);
  bad[bad.length - 20] ^= 1;
  assert.throws(() => ece.decrypt(bad, { version: 'aes128gcm', privateKey: ecdh, authSecret: auth }));
  assert.throws(() => ece.decrypt(body, { version: 'aes128gcm', privateKey: ecdh, authSecret: crypto.randomBytes(16) }));
});

test('the VAPID check accepts spec §9.2 and rejects tampering', () => {
  const { header, claims } = verifyVapidJwt(vapidVector.jwt, vapidVector.publicKey);
  assert.deepEqual(header, { typ: 'JWT', alg: 'ES256' });
  assert.deepEqual(claims, { aud: 'https://fcm.googleapis.com', exp: 1700043200, sub: 'mailto:admin@hapi.run' });
  const [h, c, s] = vapidVector.jwt.split('.');
  const otherClaims = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 1 })).toString('base64url');
  assert.throws(() => verifyVapidJwt(`${h}.${otherClaims}.${s}`, vapidVector.publicKey), /does not verify/);
  const sig = Buffer.from(s, 'base64url');
  sig[10] ^= 1;
  assert.throws(() => verifyVapidJwt(`${h}.${c}.${sig.toString('base64url')}`, vapidVector.publicKey), /does not verify/);
  const der = crypto.sign('sha256', Buffer.from(`${h}.${c}`), crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  assert.throws(() => verifyVapidJwt(`${h}.${c}.${der.toString('base64url')}`, vapidVector.publicKey), /raw r\|\|s|does not verify/);
  const other = crypto.createECDH('prime256v1');
  other.generateKeys();
  assert.throws(() => verifyVapidJwt(vapidVector.jwt, other.getPublicKey('base64url')), /does not verify/);
});

test('the Authorization parser insists on "vapid t=<jwt>, k=<key>"', () => {
  const v = `vapid t=${vapidVector.jwt}, k=${vapidVector.publicKey}`;
  assert.deepEqual(parseVapidAuthorization(v), { jwt: vapidVector.jwt, k: vapidVector.publicKey });
  for (const bad of [
    `vapid t=${vapidVector.jwt},k=${vapidVector.publicKey}`,
    `WebPush ${vapidVector.jwt}`,
    `vapid k=${vapidVector.publicKey}, t=${vapidVector.jwt}`,
    `vapid t=${vapidVector.jwt}`,
  ]) {
    assert.throws(() => parseVapidAuthorization(bad));
  }
});
