// The scratch list and the export in the official web app (issue 16; parity-0.30.7.md §5
// rows 3 and 5). Selectors from the v0.30.7 bundle: the composer's toggle is the button
// "Scratchlist drawer" (aria-pressed while the composer routes Send to the scratch list,
// whose Send button is then "Send to scratchlist"); the drawer lists entries as
// [data-testid="scratchlist-entry"] under the count "1 item". The session header's "More
// actions" menu has the item "Export conversation", which opens a dialog with "Download";
// success is the toast "Conversation exported", failure the toast "Export failed".
const NOTE = 'Parked scratch-list note 4711';

export default async function scratchlist(cx) {
  const { page, step, hub, cli, requests, visible, clickThrough, dismissExplainers, waitFor, sleep } = cx;

  await step(
    'scratchlist-add',
    async () => {
      await page.goto(`${hub.base}/sessions/${cli.sid}`, { waitUntil: 'load' });
      await dismissExplainers(page);
      const toggle = page.getByRole('button', { name: 'Scratchlist drawer', exact: true }).first();
      await visible(toggle, 'the scratch-list toggle in the composer');
      await clickThrough(page, toggle, 'the scratch-list toggle');
      await dismissExplainers(page);
      await waitFor('the composer to route to the scratch list', async () => (await toggle.getAttribute('aria-pressed')) === 'true', 5000);
      const box = page.locator('[data-testid="rich-composer-input"], textarea').first();
      await clickThrough(page, box, 'the composer input');
      await page.keyboard.type(NOTE);
      const send = page.getByRole('button', { name: 'Send to scratchlist', exact: true }).first();
      await visible(send, 'the "Send to scratchlist" button');
      await waitFor('"Send to scratchlist" to be enabled', () => send.isEnabled().catch(() => false), 5000);
      await clickThrough(page, send, '"Send to scratchlist"');
      const entry = page.locator('[data-testid="scratchlist-entry"]').filter({ hasText: NOTE }).first();
      await visible(entry, 'the note in the scratch-list drawer');
      await visible(page.getByText('1 item', { exact: true }).first(), 'the count "1 item"');
      // The hub stored it: the web's POST …/scratchlist was answered 201.
      const created = await waitFor('POST …/scratchlist answered 201', () =>
        requests.find((r) => r.method === 'POST' && r.path === `/api/sessions/${cli.sid}/scratchlist` && r.status === 201),
      5000);
      await clickThrough(page, toggle, 'the scratch-list toggle (leave)');
      return `listed; POST …/scratchlist ${created.status}`;
    },
    page,
  );

  await step(
    'export-conversation',
    async () => {
      await dismissExplainers(page);
      const more = page.locator('button[aria-haspopup="menu"][title="More actions"]').first();
      await visible(more, 'the session actions button ("More actions")');
      await clickThrough(page, more, '"More actions"');
      const item = page.getByRole('menuitem', { name: 'Export conversation' }).first();
      await visible(item, 'the "Export conversation" menu item');
      await clickThrough(page, item, '"Export conversation"');
      const download = page.getByRole('button', { name: 'Download', exact: true }).first();
      await visible(download, 'the export dialog\'s "Download" button');
      const got = page.waitForEvent('download', { timeout: 10000 }).catch(() => null);
      await clickThrough(page, download, '"Download"');
      await visible(page.getByText('Conversation exported').first(), 'the toast "Conversation exported"');
      if ((await page.getByText('Export failed').count()) > 0) throw new Error('the toast "Export failed" is shown');
      const file = await got;
      await sleep(300);
      return file ? `downloaded ${file.suggestedFilename()}` : 'toast "Conversation exported"';
    },
    page,
  );
}
