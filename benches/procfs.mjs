// /proc helpers the node benchmark drivers share (node built-ins only, so every driver can
// import it whatever its own node_modules hold).

import { readFileSync, readdirSync } from 'node:fs';

/** Every pid in the process tree rooted at `pid` (children via /proc/<pid>/task/<tid>/children). */
export function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const kids = readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) out.push(Number(k));
      } catch {
        /* gone */
      }
    }
  }
  return out;
}
