// The session's web terminal (parity §5 row 9): open /sessions/<sid>/terminal, see the
// stand-in CLI's output arrive in the page, type a command and see its echo, reload the page and
// see the output again. The web app makes a new terminal id per page load, so after the reload
// the hub opens a second terminal; the first one must stay detached (no `terminal:close` to the
// CLI: it lives until the idle timeout), which hapid used to break by closing it at once.
//
// The fake CLI of browser.mjs has no terminal handlers; this step adds them on `cli.socket`:
// `terminal:open` → `terminal:ready` + a prompt, `terminal:write` → echo of the line.
// xterm draws on a canvas, so the page's text is read from what reaches it over the Socket.IO
// transport (WebSocket frames and polling responses of the `/terminal` namespace).

const PROMPT = 'hapi-e2e-terminal$ ';
const RESULT = 'e2e-command-output';
// The terminal page loads a Nerd Font from a CDN (no network here: console errors). It is
// answered with a font of the bundle itself, so the page's font loader succeeds.
const CDN_FONT = /nerdfont-webfonts/;

export default async function terminalSteps(cx) {
  const { page, step, hub, cli, sleep, waitFor, dismissExplainers } = cx;
  const opened = [];
  const closed = [];
  const writes = [];
  const onOpen = (p) => {
    opened.push(p);
    cli.socket.emit('terminal:ready', { sessionId: p.sessionId, terminalId: p.terminalId });
    cli.socket.emit('terminal:output', { sessionId: p.sessionId, terminalId: p.terminalId, data: `\r\n${PROMPT}` });
  };
  // Each key comes as its own write; Enter runs the "command": its output line, a new prompt.
  const onWrite = (p) => {
    writes.push(p);
    const data = String(p.data ?? '');
    const out = data.includes('\r') ? `\r\n${RESULT}\r\n${PROMPT}` : data;
    cli.socket.emit('terminal:output', { sessionId: p.sessionId, terminalId: p.terminalId, data: out });
  };
  const onClose = (p) => closed.push(p);
  cli.socket.on('terminal:open', onOpen);
  cli.socket.on('terminal:write', onWrite);
  cli.socket.on('terminal:close', onClose);

  // What the page received on /terminal (both transports).
  let received = '';
  const take = (s) => {
    if (typeof s === 'string' && s.includes('/terminal,')) received += s;
  };
  const onSocket = (ws) => ws.on('framereceived', (f) => take(f.payload));
  const onResponse = (r) => {
    if (r.url().includes('/socket.io/') && r.request().method() === 'GET') r.text().then(take, () => {});
  };
  page.on('websocket', onSocket);
  page.on('response', onResponse);
  const font = Buffer.from(await (await fetch(`${hub.base}/assets/fonts/KaTeX_AMS-Regular.woff2`)).arrayBuffer());
  const fontRoute = (route) =>
    route.fulfill({ status: 200, body: font, headers: { 'content-type': 'font/woff2', 'access-control-allow-origin': '*' } });
  await page.route(CDN_FONT, fontRoute);
  const prompts = () => received.split(PROMPT).length - 1;

  try {
    await step(
      'terminal-open',
      async () => {
        await page.goto(`${hub.base}/sessions/${cli.sid}/terminal`, { waitUntil: 'load' });
        await dismissExplainers(page);
        await waitFor('terminal:open at the CLI', () => opened.length >= 1, 20_000);
        await waitFor('the prompt in the page', () => prompts() >= 1, 20_000);
        return `terminal ${opened[0].terminalId} open, prompt shown`;
      },
      page,
    );
    await step(
      'terminal-type',
      async () => {
        await page.locator('.xterm').first().click();
        await page.keyboard.type('echo hi');
        await page.keyboard.press('Enter');
        await waitFor('the typed line at the CLI', () => writes.map((w) => w.data).join('').includes('echo hi'), 15_000);
        await waitFor('the command output in the page', () => received.includes(RESULT), 15_000);
        await sleep(500);
        return `CLI got ${JSON.stringify(writes.map((w) => w.data).join(''))}`;
      },
      page,
    );
    await step(
      'terminal-reload',
      async () => {
        const before = prompts();
        const first = opened[0]?.terminalId;
        await page.reload({ waitUntil: 'load' });
        await dismissExplainers(page);
        await waitFor('a terminal:open after the reload', () => opened.length >= 2, 20_000);
        await waitFor('the prompt again after the reload', () => prompts() > before, 20_000);
        await sleep(1000);
        if (closed.some((c) => c.terminalId === first)) {
          throw new Error(`the first terminal ${first} was closed when the page went (it must stay detached)`);
        }
        return `prompt shown again (terminal ${opened.at(-1).terminalId}); ${first} detached, not closed`;
      },
      page,
    );
  } finally {
    await page.unroute(CDN_FONT, fontRoute);
    page.off('websocket', onSocket);
    page.off('response', onResponse);
    cli.socket.off('terminal:open', onOpen);
    cli.socket.off('terminal:write', onWrite);
    cli.socket.off('terminal:close', onClose);
  }
}
