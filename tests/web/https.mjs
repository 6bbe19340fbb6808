// The official web app in headless Chromium over HTTPS against hapid (issue 19): hapid serves
// TLS with a certificate from a throw-away local CA (tests/web/https.sh makes it), Chromium
// trusts that certificate by its public key (--ignore-certificate-errors-spki-list, the
// switch Chromium provides for test CAs), and the page must be a secure context with its
// service worker registered and active and PushManager available.
//
// The browser's own push service is not reachable from these machines, so the subscription
// is made as the push suite makes it (a P-256 key pair and an auth secret, POST
// /api/push/subscribe with the web JWT, over the same HTTPS origin), and a permission request
// raised by a CLI over wss:// must reach the fake push service encrypted so that http_ece
// decrypts it with the subscriber's key.
//
//   NODE_EXTRA_CA_CERTS=ca.pem node https.mjs --cert server.pem --key server.key \
//       --spki <base64 sha256 of the SPKI> --bundle <web app dir>
//
// Exit code 0 when every check passes.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as push from '../push/lib.mjs';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['cert', 'key', 'spki', 'bundle']) if (!args[k]) throw new Error(`--${k} is required`);

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const log = (...a) => console.log('[https]', ...a);
const checks = [];
const check = (name, ok, detail = '') => {
  checks.push({ name, ok, detail });
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
};

const service = await push.startPushService();
const hub = await push.startHapid({
  env: {
    HAPID_TLS_CERT: resolve(args.cert),
    HAPID_TLS_KEY: resolve(args.key),
    HAPI_WEB_DIR: resolve(args.bundle),
  },
});
// The hub listens on 127.0.0.1; the certificate names localhost (and 127.0.0.1).
const origin = `https://localhost:${hub.port}`;
hub.base = origin;
let browser;
let cli;
const profile = mkdtempSync(join(tmpdir(), 'hapid-https-chromium-'));
try {
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    serviceWorkers: 'allow',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${args.spki}`,
    ],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const bad = [];
  page.on('response', (r) => {
    if (r.status() >= 400) bad.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(`${origin}/?token=${encodeURIComponent(push.TOKEN)}`, { waitUntil: 'load' });
  const seen = await page.evaluate(async () => {
    const ready = await Promise.race([
      navigator.serviceWorker.ready.then((r) => r),
      new Promise((ok) => setTimeout(() => ok(null), 20000)),
    ]);
    // `ready` resolves once a worker is active, possibly still "activating".
    for (let i = 0; i < 100 && ready?.active && ready.active.state !== 'activated'; i++) {
      await new Promise((ok) => setTimeout(ok, 100));
    }
    return {
      secure: window.isSecureContext,
      protocol: location.protocol,
      sw: ready ? (ready.active?.state ?? 'none') : 'not ready in 20 s',
      scope: ready?.scope ?? null,
      pushManager: 'PushManager' in window && Boolean(ready?.pushManager),
    };
  });
  check('page over https', seen.protocol === 'https:', seen.protocol);
  check('secure context', seen.secure === true);
  check('service worker registered and active', seen.sw === 'activated', `${seen.sw} ${seen.scope ?? ''}`);
  check('PushManager available', seen.pushManager === true);
  // The app logged in with ?token= and listed sessions over the same origin.
  await page.waitForTimeout(1000);
  check('no failed requests', bad.length === 0, bad.slice(0, 5).join(', '));
  await browser.close();
  browser = null;

  // Push: a browser-like subscriber, subscribed over HTTPS with the web JWT; a CLI over wss://
  // raises a permission request; nobody is looking (the page is closed), so it is pushed.
  const jwt = await push.webJwt(hub);
  const sub = push.makeSubscriber();
  const ep = service.endpoint();
  const r = await push.request(hub, 'POST', '/api/push/subscribe', {
    token: jwt,
    body: { endpoint: ep.url, keys: sub.keys },
  });
  check('subscribe over https', r.status === 200, `${r.status} ${r.text}`);
  cli = await push.cliSession(hub);
  check('CLI socket over wss://', cli.socket.connected === true);
  await push.raisePermission(cli, push.editRequest('req-https'));
  const [got] = await service.waitFor((q) => q.path === ep.path, { ms: 10000 });
  const plain = JSON.parse(sub.decrypt(got.body).toString('utf8'));
  check(
    'push delivered and decrypted',
    plain?.title === 'Permission Request' && plain?.data?.type?.startsWith('permission'),
    JSON.stringify(plain).slice(0, 160),
  );
} catch (e) {
  check('run', false, e.stack || String(e));
} finally {
  cli?.close();
  if (browser) await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  await hub.stop();
  await service.close();
}
const failed = checks.filter((c) => !c.ok);
log(`${checks.length - failed.length}/${checks.length} checks passed`);
process.exit(failed.length === 0 ? 0 : 1);
