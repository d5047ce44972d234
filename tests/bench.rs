//! The benchmark (not a test: `#[ignore]`d, run by tests/bench.sh): wall time and exec-channel
//! count of a first apply, a no-op plan and a no-op apply, for 1, 10 and 50 apps on one host
//! of the lab. Prints a Markdown table.

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

#[test]
#[ignore = "benchmark: run tests/bench.sh"]
fn bench_apply_and_plan() {
    let sizes: Vec<usize> = std::env::var("WSGICTL_BENCH_APPS")
        .map(|s| s.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![1, 10, 50]);
    println!("| apps | first apply | no-op plan | no-op apply |");
    println!("|---:|---:|---:|---:|");
    for n in sizes {
        let site = Site::new(n, "");
        let m = wsgictl::manifest::load(&site.manifest).unwrap();
        crate::support::apache::ApacheInstance::ensure_accounts(&m, "lab");
        let first = timed(&site, "apply", &["--yes", "-v"], "exec channels");
        let plan = timed(&site, "plan", &["-v"], "exec channel");
        let noop = timed(&site, "apply", &["--yes", "-v"], "exec channel");
        let cell = |(s, c): (f64, u32)| format!("{s:.2} s, {c} exec");
        println!(
            "| {n} | {} | {} | {} |",
            cell(first),
            cell(plan),
            cell(noop)
        );
    }
}
