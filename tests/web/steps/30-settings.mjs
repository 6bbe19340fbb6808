// Settings → Storage and Settings → General "Session status summaries" (parity-0.30.7.md §2
// rows 82–84): the storage page loads (no "Unable to load storage usage"), and the "Emit status
// summaries" toggle flipped in the web app is still on after a reload (PUT /api/hub-settings
// persisted by the hub). Settings → Token usage (row 85) loads its summary (no "Unable to load
// token usage"), also for "All time" (GET /api/usage/summary?range=all&timeZone=<browser's>).
export default async function settings(cx) {
  const { page, step, hub, visible, waitFor, clickThrough } = cx;

  await step(
    'settings-storage',
    async () => {
      await page.goto(`${hub.base}/settings/storage`, { waitUntil: 'load' });
      await visible(page.getByText('Write-ahead log', { exact: true }).filter({ visible: true }).first(), 'the WAL row of Settings → Storage');
      const failed = await page.getByText('Unable to load storage usage').count();
      if (failed) throw new Error('Settings → Storage says "Unable to load storage usage"');
      return 'database, WAL and SHM sizes shown';
    },
    page,
  );

  await step(
    'settings-summary-toggle-persists',
    async () => {
      await page.goto(`${hub.base}/settings/general`, { waitUntil: 'load' });
      const box = page.getByLabel('Emit status summaries', { exact: true });
      await box.waitFor({ state: 'attached', timeout: 15000 });
      if (await box.isChecked()) throw new Error('"Emit status summaries" is on before it was flipped');
      const put = page.waitForResponse((r) => r.url().endsWith('/api/hub-settings') && r.request().method() === 'PUT', { timeout: 15000 });
      await clickThrough(page, box.locator('xpath=..'), 'the "Emit status summaries" switch');
      const r = await put;
      if (r.status() !== 200) throw new Error(`PUT /api/hub-settings answered ${r.status()}`);
      await page.reload({ waitUntil: 'load' });
      const again = page.getByLabel('Emit status summaries', { exact: true });
      await again.waitFor({ state: 'attached', timeout: 15000 });
      await waitFor('the toggle to read on after the reload', () => again.isChecked());
      return 'toggle on after reload';
    },
    page,
  );

  await step(
    'settings-token-usage',
    async () => {
      const first = page.waitForResponse((r) => r.url().includes('/api/usage/summary'), { timeout: 15000 });
      await page.goto(`${hub.base}/settings/usage`, { waitUntil: 'load' });
      const r = await first;
      if (r.status() !== 200) throw new Error(`GET /api/usage/summary answered ${r.status()}`);
      await visible(page.getByText('Processed tokens (cache included)', { exact: true }).filter({ visible: true }).first(), 'the total of Settings → Token usage');
      const all = page.waitForResponse((r) => r.url().includes('/api/usage/summary') && r.url().includes('range=all'), { timeout: 15000 });
      await clickThrough(page, page.getByRole('radio', { name: 'All time' }), 'the "All time" range');
      const a = await all;
      if (a.status() !== 200) throw new Error(`GET /api/usage/summary?range=all answered ${a.status()}`);
      const body = await a.json();
      await visible(page.getByText('Processed tokens (cache included)', { exact: true }).filter({ visible: true }).first(), 'the total after "All time"');
      const failed = await page.getByText('Unable to load token usage').count();
      if (failed) throw new Error('Settings → Token usage says "Unable to load token usage"');
      return `all time: ${body.totals.totalTokens} tokens, ${body.totals.requests} requests, ${body.daily.length} days`;
    },
    page,
  );
}
