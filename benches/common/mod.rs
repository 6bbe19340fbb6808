//! Shared by the floor and load benches. CPU time and memory of processes, from `/proc` (Linux only), for the floor and load
//! benches: utime + stime of a process (`/proc/<pid>/stat`, all its threads), the machine's
//! busy time (`/proc/stat`), and resident memory (`/proc/<pid>/status`).
//!
//! A [`Window`] brackets one measured phase. Besides the hub's and this process's CPU it
//! reports the *noise*: everything else the machine ran in the same interval (busy time of
//! all CPUs minus the hub's and ours), in cores. Tick-based: 1/`CLK_TCK` s resolution, so a
//! phase should burn at least a few hundred ticks.

#![allow(dead_code)] // each bench uses a different part

use std::fs;
use std::process::Command;
use std::time::Instant;

/// Clock ticks per second of the `/proc` counters (`getconf CLK_TCK`, 100 if unknown).
pub fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of `pid` (`"self"` for this process), in ticks.
pub fn proc_ticks(pid: &str) -> Option<u64> {
    let st = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &st[st.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Busy ticks of all CPUs since boot: user + nice + system + irq + softirq + steal.
pub fn busy_ticks() -> Option<u64> {
    let st = fs::read_to_string("/proc/stat").ok()?;
    let line = st.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    Some(v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0))
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
pub fn rss_kib(pid: &str) -> Option<(u64, u64)> {
    let st = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        st.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|x| x.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// One measured phase: start it, do the work, [`Window::finish`] it.
pub struct Window {
    tck: f64,
    hub: Option<String>,
    t0: Instant,
    hub0: u64,
    self0: u64,
    busy0: u64,
}

/// What a [`Window`] saw.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    /// Wall time of the phase, seconds.
    pub wall_s: f64,
    /// CPU time of the measured server process (0 without one), milliseconds.
    pub hub_ms: f64,
    /// CPU time of this process, milliseconds.
    pub self_ms: f64,
    /// CPU time of everything else on the machine, milliseconds (may be slightly negative:
    /// the counters are sampled at slightly different instants).
    pub other_ms: f64,
}

impl Cpu {
    /// Other processes' CPU in cores (average over the phase): the noise.
    pub fn noise_cores(&self) -> f64 {
        (self.other_ms / 1000.0 / self.wall_s).max(0.0)
    }
}

impl Window {
    /// Starts a phase; `hub` is the PID of the server process measured beside us.
    pub fn start(tck: f64, hub: Option<u32>) -> Window {
        let hub = hub.map(|p| p.to_string());
        let hub0 = hub.as_deref().and_then(proc_ticks).unwrap_or(0);
        let busy0 = busy_ticks().unwrap_or(0);
        let self0 = proc_ticks("self").unwrap_or(0);
        Window {
            tck,
            hub,
            t0: Instant::now(),
            hub0,
            self0,
            busy0,
        }
    }

    /// Ends the phase.
    pub fn finish(&self) -> Cpu {
        let self1 = proc_ticks("self").unwrap_or(0);
        let busy1 = busy_ticks().unwrap_or(0);
        let hub1 = self.hub.as_deref().and_then(proc_ticks).unwrap_or(0);
        let wall_s = self.t0.elapsed().as_secs_f64();
        let ms = |t: u64| t as f64 * 1000.0 / self.tck;
        let (hub_ms, self_ms) = (ms(hub1 - self.hub0), ms(self1 - self.self0));
        let busy_ms = ms(busy1.saturating_sub(self.busy0));
        Cpu {
            wall_s,
            hub_ms,
            self_ms,
            other_ms: busy_ms - hub_ms - self_ms,
        }
    }
}

/// Nearest-rank percentile (0 < p <= 100) of `xs`, sorted in place; NaN when empty.
pub fn percentile(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * xs.len() as f64).ceil() as usize;
    xs[rank.clamp(1, xs.len()) - 1]
}

/// The ~1.2 KB agent message of the `ingest` scenario and the store floor, as the Socket.IO
/// event array `["message",{sid, message, localId}]` (shaped like the v0.30.7 CLI's output,
/// `spec/cli-protocol.md` §6.3).
pub fn message_event(sid: &str, i: u64) -> String {
    let filler = "The quick brown fox jumps over the lazy dog while the agent edits src/lib.rs. ";
    format!(
        r##"["message",{{"sid":"{sid}","message":{{"role":"agent","content":{{"type":"output","data":{{"type":"assistant","uuid":"00000000-0000-4000-8000-{i:012}","message":{{"role":"assistant","content":[{{"type":"text","text":"#{i} {}"}}]}}}}}},"meta":{{"sentFrom":"cli"}}}},"localId":"ingest-{i}"}}]"##,
        filler.repeat(13)
    )
}
