//! Runs over several hosts: bounded parallelism (`--parallel`), rolling batches
//! (`--serial N|N%`) and the progress shown meanwhile (one live line per host on a terminal,
//! made with indicatif; one plain line per host when it ends otherwise).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `f` over `items` on at most `n` threads at once; results in the order of `items`.
pub fn bounded<T: Send, R: Send>(items: Vec<T>, n: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let len = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..len).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..n.clamp(1, len.max(1)) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((i, item)) = next else { break };
                    let r = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// How a run over several hosts goes: at most `parallel` at once, showing `progress`.
pub struct Pool<'a> {
    pub parallel: usize,
    pub progress: &'a Progress,
}

/// `--serial`: how many hosts each batch of a rolling apply takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    Hosts(usize),
    Percent(u8),
}

impl std::str::FromStr for Serial {
    type Err = String;
    fn from_str(s: &str) -> Result<Serial, String> {
        let bad =
            || format!("`{s}`: give a number of hosts (`2`) or a share of them (`25%`), above 0");
        match s.strip_suffix('%') {
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p @ 1..=100) => Ok(Serial::Percent(p)),
                _ => Err(bad()),
            },
            None => match s.trim().parse::<usize>() {
                Ok(n @ 1..) => Ok(Serial::Hosts(n)),
                _ => Err(bad()),
            },
        }
    }
}

impl Serial {
    /// The size of each batch of `hosts` (a share rounds up: 25% of 3 hosts is 1).
    pub fn batch(self, hosts: usize) -> usize {
        match self {
            Serial::Hosts(n) => n,
            Serial::Percent(p) => (hosts * p as usize).div_ceil(100),
        }
        .max(1)
    }
}

/// What a run over several hosts shows while it runs. Silent for one host, for `--json` and
/// `--quiet`.
pub struct Progress {
    live: Option<(
        indicatif::MultiProgress,
        BTreeMap<String, indicatif::ProgressBar>,
    )>,
    plain: bool,
    started: Mutex<BTreeMap<String, Instant>>,
}

impl Progress {
    pub fn new<S: AsRef<str>>(hosts: &[S], shown: bool) -> Progress {
        Self::with(hosts, shown && hosts.len() > 1, shown && hosts.len() > 1)
    }

    /// For the apply itself, whose steps take long: the live line on a terminal also for one
    /// host (where a plain line would only repeat the outcome's).
    pub fn of_apply<S: AsRef<str>>(hosts: &[S], shown: bool) -> Progress {
        Self::with(hosts, shown, shown && hosts.len() > 1)
    }

    fn with<S: AsRef<str>>(hosts: &[S], live: bool, plain: bool) -> Progress {
        let live = (live && std::io::stderr().is_terminal()).then(|| {
            let multi = indicatif::MultiProgress::new();
            let style =
                indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                    .expect("a valid template");
            let width = hosts.iter().map(|h| h.as_ref().len()).max().unwrap_or(0);
            let bars = hosts
                .iter()
                .map(|h| {
                    let h = h.as_ref();
                    let bar = multi.add(indicatif::ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(format!("{h:width$}"));
                    bar.set_message("waiting");
                    bar.enable_steady_tick(Duration::from_millis(120));
                    (h.to_string(), bar)
                })
                .collect();
            (multi, bars)
        });
        Progress {
            plain: plain && live.is_none(),
            live,
            started: Mutex::new(BTreeMap::new()),
        }
    }

    /// `host` is now doing `what` (`connecting`, `gathering`, `applying`).
    pub fn stage(&self, host: &str, what: &str) {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(host.to_string())
            .or_insert_with(Instant::now);
        if let Some((_, bars)) = &self.live
            && let Some(b) = bars.get(host)
        {
            b.set_message(what.to_string());
        }
    }

    /// `host` ended: `what` is `planned`, `applied`, `failed`, …; the time since its first stage
    /// is added.
    pub fn done(&self, host: &str, what: &str) {
        let secs = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let line = format!("{what} in {secs:.1} s");
        if let Some((_, bars)) = &self.live
            && let Some(b) = bars.get(host)
        {
            b.finish_with_message(line);
        } else if self.plain {
            eprintln!("{host}: {line}");
        }
    }

    /// Take the live lines off the terminal before the plans are printed.
    pub fn clear(&self) {
        if let Some((multi, _)) = &self.live {
            let _ = multi.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn bounded_keeps_the_order_and_never_runs_more_than_n_at_once() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let out = bounded((0..20).collect(), 3, |i: u32| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert!(bounded(Vec::<u32>::new(), 4, |i| i).is_empty());
    }

    #[test]
    fn serial_takes_a_count_or_a_share() {
        assert_eq!("2".parse(), Ok(Serial::Hosts(2)));
        assert_eq!("50%".parse(), Ok(Serial::Percent(50)));
        assert_eq!(Serial::Percent(25).batch(3), 1);
        assert_eq!(Serial::Percent(50).batch(3), 2);
        assert_eq!(Serial::Percent(100).batch(3), 3);
        assert_eq!(Serial::Hosts(2).batch(3), 2);
        for bad in ["0", "0%", "101%", "-1", "two", ""] {
            let e = bad.parse::<Serial>().unwrap_err();
            assert!(e.contains("number of hosts"), "{bad}: {e}");
        }
    }
}
