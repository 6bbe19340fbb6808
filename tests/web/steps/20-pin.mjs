// Pin the session from the session header's "More actions" menu ("Pin in project"), see the
// PUT /api/sessions/:id/pin {"mode":"project"} answered 200, the session in the list's
// "Pinned sessions" group, then unpin it again (parity-0.30.7.md §2 row 32, §5 rows 5 and 15).
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
      const item = page.getByRole('menuitem', { name: 'Pin in project' }).first();
      await visible(item, 'the Pin in project menu item');
      await clickThrough(page, item, 'Pin in project');
      const put = await waitFor('PUT …/pin', () => pinPuts().find((r) => r.status));
      if (put.status !== 200) throw new Error(`PUT pin answered ${put.status}`);
      if (JSON.parse(put.requestBody ?? '{}').mode !== 'project') throw new Error(`PUT pin body ${put.requestBody}`);
      await page.goto(`${hub.base}/sessions`, { waitUntil: 'load' });
      await dismissExplainers(page);
      await visible(page.getByText('Pinned sessions').first(), 'the Pinned sessions group');
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
      const item = page.getByRole('menuitem', { name: 'Unpin from project' }).first();
      await visible(item, 'the Unpin from project menu item');
      await clickThrough(page, item, 'Unpin from project');
      const put = await waitFor('the second PUT …/pin', () => pinPuts().slice(before).find((r) => r.status));
      if (put.status !== 200) throw new Error(`PUT pin answered ${put.status}`);
      return `PUT pin ${put.status}`;
    },
    page,
  );
}
