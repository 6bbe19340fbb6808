// Settings → Voice with a (fake) ELEVENLABS_API_KEY in the hub's environment (set by
// browser.mjs's startHub): the web app finds the hub's voice backend (GET /api/voice/backend →
// elevenlabs) and shows the key as configured from the environment, masked, instead of
// "No voice assistant backend is configured on the hub". Provider credentials and the
// transcription provider list load without an HTTP error (no-http-errors covers that).
export default async function voice(cx) {
  const { page, step, hub, visible, dismissExplainers, waitFor, requests } = cx;
  await step(
    'settings-voice-backend-configured',
    async () => {
      await page.goto(`${hub.base}/settings/voice`);
      await dismissExplainers(page);
      await visible(page.getByText('Voice mode').first(), 'Settings → Voice');
      await waitFor('GET /api/voice/backend and /api/voice/transcription/credentials answered', () =>
        ['/api/voice/backend', '/api/voice/transcription/credentials'].every((p) =>
          requests.some((r) => r.path.startsWith(p) && r.status === 200),
        ),
      );
      await sleep(500);
      const text = await page.locator('body').innerText();
      if (text.includes('No voice assistant backend is configured')) {
        throw new Error('Settings → Voice says no voice assistant backend is configured');
      }
      // Make sure the assistant mode is the one shown (the message belongs to it).
      const assistant = page.getByText('Voice assistant', { exact: true }).first();
      if (await assistant.count()) await assistant.click({ timeout: 5000 }).catch(() => {});
      await sleep(500);
      const after = await page.locator('body').innerText();
      if (after.includes('No voice assistant backend is configured')) {
        throw new Error('Settings → Voice (assistant) says no voice assistant backend is configured');
      }
      // The key shows as configured from the environment, masked to its last four characters.
      await page.getByText('Add or manage providers').first().click({ timeout: 5000 });
      await visible(page.getByText('••••0000').first(), 'the ElevenLabs key configured via the environment (••••0000)');
      const shown = await page.locator('body').innerText();
      if (shown.includes('xi-web-suite-fake-key-0000')) throw new Error('the web app shows the whole key');
      const backend = requests.filter((r) => r.path.startsWith('/api/voice/')).map((r) => `${r.method} ${r.path} ${r.status}`);
      return `no "no backend" notice; ${backend.join(', ')}`;
    },
    page,
  );
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
