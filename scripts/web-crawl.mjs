// Copy a web app bundle from a running hub into a directory, exactly as the hub serves it.
//
//   node scripts/web-crawl.mjs <base-url> <target-dir>   (or the official hub binary, as Bun:
//   BUN_BE_BUN=1 hapi scripts/web-crawl.mjs …, which is what scripts/fetch-web.sh does)
//
// Starts at `/` (saved as index.html), `/sw.js` and `/manifest.webmanifest`, and follows every
// reference it can see: src/href attributes of index.html, the manifest's icons, the service
// worker's precache list (`"url":"..."`), `url(...)` in CSS, and "/assets/..." or "assets/..."
// strings in JS. A response that is the SPA fallback (index.html answered for a non-HTML path)
// is not a file of the bundle and is skipped. Uses only built-ins of node >= 20 and Bun.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const [base, target] = process.argv.slice(2);
if (!base || !target) {
  console.error('usage: web-crawl.mjs <base-url> <target-dir>');
  process.exit(2);
}

const seen = new Set();
const queue = ['/', '/sw.js', '/manifest.webmanifest'];
const saved = [];
const skipped = [];
let indexHtml = null;

/** Normalises a reference found in `from` into a same-origin absolute path, or null. */
function resolveRef(ref, from) {
  if (!ref || ref.startsWith('data:') || ref.startsWith('blob:') || ref.startsWith('#')) return null;
  let u;
  try {
    u = new URL(ref, new URL(from, base));
  } catch {
    return null;
  }
  if (u.origin !== new URL(base).origin) return null;
  const p = decodeURIComponent(u.pathname);
  if (p.startsWith('/api') || p.startsWith('/socket.io') || p.startsWith('/cli')) return null;
  return p;
}

function add(ref, from) {
  const p = resolveRef(ref, from);
  if (p && !seen.has(p)) queue.push(p);
}

function refsOf(path, type, text) {
  if (path === '/' || type.startsWith('text/html')) {
    for (const m of text.matchAll(/\s(?:src|href)\s*=\s*["']([^"']+)["']/g)) add(m[1], path);
  }
  if (type.includes('manifest') || path.endsWith('.webmanifest')) {
    try {
      const j = JSON.parse(text);
      for (const i of j.icons ?? []) add(i.src, path);
      for (const s of j.screenshots ?? []) add(s.src, path);
    } catch {
      /* not JSON */
    }
  }
  if (type.includes('css') || path.endsWith('.css')) {
    for (const m of text.matchAll(/url\(\s*["']?([^"')]+)["']?\s*\)/g)) add(m[1], path);
  }
  if (type.includes('javascript') || path.endsWith('.js')) {
    // Service-worker precache manifest entries, relative to the worker's scope (/).
    for (const m of text.matchAll(/"?url"?\s*:\s*"([^"]+)"/g)) {
      if (!/^https?:/.test(m[1])) add('/' + m[1].replace(/^\/+/, ''), '/');
    }
    // Chunk and asset names referenced from code ("/assets/x.js", "assets/x.js", "./x.js").
    for (const m of text.matchAll(/["'`](\/?assets\/[A-Za-z0-9._\-/]+\.[A-Za-z0-9]+)["'`]/g)) {
      add('/' + m[1].replace(/^\/+/, ''), '/');
    }
    if (path.startsWith('/assets/')) {
      for (const m of text.matchAll(/["'`]\.\/([A-Za-z0-9._\-]+\.(?:js|css|woff2?|wasm|png|svg))["'`]/g)) {
        add(m[1], path);
      }
    }
  }
}

while (queue.length) {
  const path = queue.shift();
  if (seen.has(path)) continue;
  seen.add(path);
  const res = await fetch(new URL(path, base));
  const buf = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  if (res.status !== 200) {
    skipped.push(`${path} (${res.status})`);
    continue;
  }
  if (path === '/') {
    indexHtml = buf;
  } else if (indexHtml && type.startsWith('text/html') && !path.endsWith('.html') && buf.equals(indexHtml)) {
    skipped.push(`${path} (SPA fallback)`);
    continue;
  }
  const rel = path === '/' ? 'index.html' : path.replace(/^\/+/, '');
  const file = normalize(join(target, rel));
  if (!file.startsWith(normalize(target))) {
    skipped.push(`${path} (outside target)`);
    continue;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, buf);
  saved.push(rel);
  if (/text|javascript|json|manifest|xml|svg/.test(type)) refsOf(path, type, buf.toString('utf8'));
}

if (!saved.includes('index.html')) {
  console.error('crawl: / did not answer index.html');
  process.exit(1);
}
console.log(`crawl: saved ${saved.length} files into ${target}`);
if (skipped.length) console.log(`crawl: skipped ${skipped.length}: ${skipped.join(', ')}`);
