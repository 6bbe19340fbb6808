// Agents in the browser (issue 15): New Session → Browse lists the runner's folders over the
// machine RPC `list-directory` (POST /api/machines/:id/list-directory), and the composer's
// Settings change the running Claude session's model over `set-session-config`
// (POST /api/sessions/:id/model). Uses the stand-in runner's `list-directory` handler and the
// session's `set-session-config` handler of browser.mjs as they are; Browse is opt-in on the
// runner (`metadata.workspaceRoots`), so this step first gives the stand-in runner a root with
// a versioned `machine-update-metadata`, as a runner started with `--workspace-root` has.
// The last step spawns a Pi session with a model and an effort chosen: it gives the stand-in
// runner Pi in `agent-availability`, a `listPiModelsForMachine` handler and a recording
// `spawn-happy-session` through the `machine.handlers` object (browser.mjs is unchanged).

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

  await step(
    'agents-spawn-pi',
    async () => {
      // The stand-in runner offers Pi with one model, and records the spawn (answering with
      // the running session, so the app opens a session that exists).
      let spawned = null;
      machine.handlers['agent-availability'] = () => ({
        agents: [
          { agent: 'claude', available: true },
          { agent: 'pi', available: true },
        ],
      });
      machine.handlers.listPiModelsForMachine = () => ({
        success: true,
        availableModels: [{ provider: 'anthropic', modelId: 'claude-sonnet-4-5', name: 'Claude Sonnet 4.5', reasoning: true }],
        currentModelId: null,
      });
      machine.socket.emit('rpc-register', { method: `${machine.id}:listPiModelsForMachine` });
      machine.handlers['spawn-happy-session'] = (p) => {
        spawned = p;
        return { type: 'success', sessionId: cli.sid };
      };
      await page.goto(`${hub.base}/sessions`, { waitUntil: 'load' });
      await dismissExplainers(page);
      const plus = page.locator('button[aria-label*="New session" i], a[aria-label*="New session" i]').first();
      await clickThrough(page, plus, 'New session');
      await visible(page.getByText('Create Session').first(), 'the Create Session form');
      await clickThrough(page, page.getByRole('radio', { name: 'Pi' }).first(), 'the agent Pi');
      const modelSelect = page.locator('select', { has: page.locator('option', { hasText: 'Claude Sonnet 4.5' }) }).first();
      await visible(modelSelect, 'the Pi model list from the runner');
      await modelSelect.selectOption({ label: 'Claude Sonnet 4.5' });
      const effortSelect = page.locator('select', { has: page.locator('option', { hasText: /^High$/ }) }).first();
      await visible(effortSelect, 'the Pi effort list');
      await effortSelect.selectOption({ label: 'High' });
      const dir = page.getByPlaceholder(/./).first();
      await dir.fill(cx.PROJECT);
      await clickThrough(page, page.getByRole('button', { name: 'Create', exact: true }).first(), 'Create');
      await waitFor('spawn-happy-session from the web', () => spawned);
      if (spawned.agent !== 'pi' || !String(spawned.model ?? '').includes('claude-sonnet-4-5') || spawned.effort !== 'high') {
        throw new Error(`spawn params: ${JSON.stringify(spawned)}`);
      }
      return `spawn-happy-session ${JSON.stringify(spawned)}`;
    },
    page,
  );
}
