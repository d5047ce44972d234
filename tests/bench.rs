//! The benchmark (not a test: `#[ignore]`d, run by tests/bench.sh): wall time and exec-channel
//! count of a first apply, a no-op plan and a no-op apply, for 1, 5, 10 and 50 apps on one
//! host of the lab, and the programs the no-op plan's gather starts on the host. Prints a
//! Markdown table; `WSGICTL_BENCH_VERBOSE=1` also prints each run's `-v` lines.

use crate::apply::Site;
use crate::support::*;
use std::time::Instant;

/// Run `wsgictl` with -v and return (seconds, exec channels from its -v line).
fn timed(site: &Site, cmd: &str, extra: &[&str], marker: &str) -> (f64, u32) {
    let started = Instant::now();
    let o = site.wsgictl(cmd, extra);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(0), "{}", crate::apply::all(&o));
    let err = stderr(&o);
    if std::env::var_os("WSGICTL_BENCH_VERBOSE").is_some() {
        eprintln!("{cmd}: {secs:.2} s\n{err}");
    }
    let line = err
        .lines()
        .find(|l| l.starts_with("lab: ") && l.contains(marker))
        .unwrap_or_else(|| panic!("no `{marker}` line in {err}"));
    // `lab: connect 3 ms, gather 80 ms, 1 exec channel` or `lab: 4 exec channels`.
    let before = &line[..line.find(" exec channel").unwrap()];
    let n = before
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    (secs, n)
}

/// Processes the no-op plan's gather starts on the host: `plan --local` (the same script, run
/// here as root) under `strace -f`, counting successful `execve`s other than wsgictl's own.
/// The log (with times) stays in the target directory (`bench-gather-N.strace`) to see which
/// programs they were and where the time went.
fn gather_processes(site: &Site, apps: usize) -> usize {
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-gather-{apps}.strace"));
    let o = std::process::Command::new("strace")
        .args([
            "-f",
            "-tt",
            "-qq",
            "-e",
            "trace=execve",
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_wsgictl"))
        .args(["plan", "--local", "-f"])
        .arg(&site.manifest)
        .env("LAB_SECRET", "bench-secret")
        .env("NO_COLOR", "1")
        .output()
        .expect("strace (tests/deps.sh installs it)");
    assert!(o.status.success(), "{}", crate::apply::all(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    text.lines()
        .filter(|l| l.contains("execve(") && l.ends_with("= 0"))
        .count()
        - 1
}

#[test]
#[ignore = "benchmark: run tests/bench.sh"]
fn bench_apply_and_plan() {
    let sizes: Vec<usize> = std::env::var("WSGICTL_BENCH_APPS")
        .map(|s| s.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![1, 5, 10, 50]);
    println!("| apps | first apply | no-op plan | no-op apply | gather processes |");
    println!("|---:|---:|---:|---:|---:|");
    for n in sizes {
        let site = Site::new(n, "");
        let m = wsgictl::manifest::load(&site.manifest).unwrap();
        crate::support::apache::ApacheInstance::ensure_accounts(&m, "lab");
        let first = timed(&site, "apply", &["--yes", "-v"], "exec channels");
        let plan = timed(&site, "plan", &["-v"], "exec channel");
        let noop = timed(&site, "apply", &["--yes", "-v"], "exec channel");
        let procs = gather_processes(&site, n);
        let cell = |(s, c): (f64, u32)| format!("{s:.2} s, {c} exec");
        println!(
            "| {n} | {} | {} | {} | {procs} |",
            cell(first),
            cell(plan),
            cell(noop)
        );
    }
}
