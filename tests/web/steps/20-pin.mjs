// Pin the session from the session header's "More actions" menu ("Pin globally"; the list's
// "Pinned sessions" group holds global pins, a project pin only sorts within its project), see
// PUT /api/sessions/:id/pin {"mode":"global"} answered 200 and the group shown, then unpin it
// and see the group go (parity-0.30.7.md §2 row 32, §5 rows 5 and 15).
const UNPIN = 'Unpin globally';
const SESSION_TITLE = 'e2e-session-';

export default async function pin(cx) {
  const { page, step, hub, cli, requests, visible, clickThrough, dismissExplainers, waitFor } = cx;
  const more = () => page.locator('button[title="More actions"][aria-haspopup="menu"]').filter({ visible: true }).first();
  const pinPuts = () => requests.filter((r) => r.method === 'PUT' && r.path.startsWith(`/api/sessions/${cli.sid}/pin`));
  await step(
    'pin-session',
    async () => {
      await page.goto(`${hub.base}/sessions/${cli.sid}`, { waitUntil: 'load' });
      await dismissExplainers(page);
      await visible(more(), 'the More actions button');
      await clickThrough(page, more(), 'More actions');
      const item = page.getByRole('menuitem', { name: 'Pin globally' }).first();
      await visible(item, 'the Pin globally menu item');
      await clickThrough(page, item, 'Pin globally');
      const put = await waitFor('PUT …/pin', () => pinPuts().find((r) => r.status));
      if (put.status !== 200) throw new Error(`PUT pin answered ${put.status}`);
      if (JSON.parse(put.requestBody ?? '{}').mode !== 'global') throw new Error(`PUT pin body ${put.requestBody}`);
      await page.goto(`${hub.base}/sessions`, { waitUntil: 'load' });
      await dismissExplainers(page);
      await visible(page.locator('[title="Pinned sessions"]').first(), 'the Pinned sessions group');
      return `PUT pin ${put.status}; "Pinned sessions" shown`;
    },
    page,
  );
  await step(
    'unpin-session',
    async () => {
      const before = pinPuts().length;
      await page.goto(`${hub.base}/sessions/${cli.sid}`, { waitUntil: 'load' });
      await dismissExplainers(page);
      await clickThrough(page, more(), 'More actions');
      const item = page.getByRole('menuitem', { name: UNPIN }).first();
      await visible(item, `the ${UNPIN} menu item`);
      await clickThrough(page, item, UNPIN);
      const put = await waitFor('the second PUT …/pin', () => pinPuts().slice(before).find((r) => r.status));
      if (put.status !== 200) throw new Error(`PUT pin answered ${put.status}`);
      await page.goto(`${hub.base}/sessions`, { waitUntil: 'load' });
      await dismissExplainers(page);
      await visible(page.getByText(SESSION_TITLE).first(), 'the session in the list');
      await waitFor('the Pinned sessions group to go', async () => (await page.locator('[title="Pinned sessions"]').count()) === 0);
      return `PUT pin ${put.status}; "Pinned sessions" gone`;
    },
    page,
  );
}
