//! The measuring loop the std-only benchmarks share (`harness = false`): calibrate how many
//! iterations fill one sample, take [`SAMPLES`] samples, report ns per iteration.

use std::time::{Duration, Instant};

/// Samples per case; the median is reported.
pub const SAMPLES: usize = 41;
/// Target duration of one sample.
pub const SAMPLE_TIME: Duration = Duration::from_millis(20);

/// Nanoseconds per call of `f`: median, fastest and slowest sample, and iterations per sample.
pub struct Measured {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub iters: u64,
}

/// Times `f` (which should `black_box` its result) over [`SAMPLES`] samples of about
/// [`SAMPLE_TIME`] each.
pub fn measure(mut f: impl FnMut()) -> Measured {
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed() >= SAMPLE_TIME / 4 || iters >= 1 << 30 {
            let per = t.elapsed().as_secs_f64() / iters as f64;
            iters = ((SAMPLE_TIME.as_secs_f64() / per) as u64).max(1);
            break;
        }
        iters *= 2;
    }
    let mut ns: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    ns.sort_by(|a, b| a.total_cmp(b));
    Measured {
        median: ns[ns.len() / 2],
        min: ns[0],
        max: ns[ns.len() - 1],
        iters,
    }
}

/// The first command-line argument that is not an option: a substring filter on case names.
pub fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}
