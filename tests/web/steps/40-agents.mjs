// Agents in the browser (issue 15): New Session → Browse lists the runner's folders over the
// machine RPC `list-directory` (POST /api/machines/:id/list-directory), and the composer's
// Settings change the running Claude session's model over `set-session-config`
// (POST /api/sessions/:id/model). Uses the stand-in runner's `list-directory` handler and the
// session's `set-session-config` handler of browser.mjs as they are; Browse is opt-in on the
// runner (`metadata.workspaceRoots`), so this step first gives the stand-in runner a root with
// a versioned `machine-update-metadata`, as a runner started with `--workspace-root` has.

/** Adds `workspaceRoots` to the stand-in runner's metadata (a versioned write). */
async function addWorkspaceRoot(machine, root) {
  const send = (expectedVersion, metadata) =>
    machine.socket.timeout(10_000).emitWithAck('machine-update-metadata', { machineId: machine.id, expectedVersion, metadata });
  // A stale version answers with the current one and its metadata.
  const probe = await send(-1, {});
  if (probe?.result !== 'version-mismatch') throw new Error(`machine-update-metadata: ${JSON.stringify(probe)}`);
  const ack = await send(probe.version, { ...probe.metadata, workspaceRoots: [root] });
  if (ack?.result !== 'success') throw new Error(`machine-update-metadata: ${JSON.stringify(ack)}`);
}
export default async function agents(cx) {
  const { page, step, hub, cli, machine, visible, clickThrough, dismissExplainers, waitFor } = cx;

  await step(
    'agents-browse',
    async () => {
      await addWorkspaceRoot(machine, cx.PROJECT);
      await page.goto(`${hub.base}/sessions`, { waitUntil: 'load' });
      await dismissExplainers(page);
      const plus = page.locator('button[aria-label*="New session" i], a[aria-label*="New session" i]').first();
      await clickThrough(page, plus, 'New session');
      await visible(page.getByText('Create Session').first(), 'the Create Session form');
      const before = machine.rpcRequests.length;
      await clickThrough(page, page.getByRole('button', { name: 'Browse' }).first(), 'Browse');
      const req = await waitFor('the list-directory RPC', () =>
        machine.rpcRequests.slice(before).find((r) => String(r.method).endsWith(':list-directory')),
      );
      await visible(page.getByText('project', { exact: true }).filter({ visible: true }).first(), 'the folder "project" from the runner');
      return `list-directory ${req.params}; folder "project" shown`;
    },
    page,
  );

  await step(
    'agents-model',
    async () => {
      await page.goto(`${hub.base}/sessions/${cli.sid}`, { waitUntil: 'load' });
      await dismissExplainers(page);
      const before = cli.rpcRequests.length;
      await clickThrough(page, page.locator('button.settings-button').first(), 'composer Settings');
      await clickThrough(page, page.getByText('Opus', { exact: true }).filter({ visible: true }).first(), 'the model Opus');
      const req = await waitFor('set-session-config {model: "opus"}', () =>
        cli.rpcRequests
          .slice(before)
          .find((r) => String(r.method).endsWith(':set-session-config') && JSON.parse(r.params ?? '{}').model === 'opus'),
      );
      const answered = await waitFor('POST /model answered 200', () =>
        cx.requests.find((r) => r.method === 'POST' && r.path.endsWith(`/sessions/${cli.sid}/model`) && r.status === 200),
      );
      return `set-session-config ${req.params} → ${answered.status}`;
    },
    page,
  );
}
