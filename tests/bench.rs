//! The benchmark (not a test: `#[ignore]`d, run by tests/bench.sh): wall time and exec-channel
//! count of a first apply, a no-op plan and a no-op apply, for 1, 5, 10 and 50 apps on one
//! host of the lab, and the programs the no-op plan's gather starts on the host. Prints a
//! Markdown table; `WSGICTL_BENCH_VERBOSE=1` also prints each run's `-v` lines, and
//! `WSGICTL_BENCH_RTT_MS` (`tests/bench.sh --rtt`) adds each no-op plan through a delay proxy.
//! `bench_hold` keeps a converged lab up for profiling by hand.

use crate::apply::Site;
use crate::support::*;
use std::time::Instant;

/// Run `wsgictl` with -v and return (seconds, exec channels from its -v line).
fn timed(site: &Site, cmd: &str, extra: &[&str], marker: &str) -> (f64, u32) {
    timed_on(site, &site.manifest, cmd, extra, marker)
}

/// [`timed`] with another manifest for the same site (the delay proxy's).
fn timed_on(
    site: &Site,
    manifest: &std::path::Path,
    cmd: &str,
    extra: &[&str],
    marker: &str,
) -> (f64, u32) {
    timed_env(site, manifest, cmd, extra, marker, &[])
}

/// The environment of a run whose connection is kept for the next (`transport::keep`): what
/// a terminal gets by default.
const KEPT: &[(&str, &str)] = &[("WSGICTL_SSH_PERSIST", "60")];

/// [`timed_on`] with more environment.
fn timed_env(
    site: &Site,
    manifest: &std::path::Path,
    cmd: &str,
    extra: &[&str],
    marker: &str,
    env: &[(&str, &str)],
) -> (f64, u32) {
    let mut args = vec![cmd, "-f", manifest.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut all = vec![("LAB_SECRET", KNOWN_SECRET)];
    all.extend_from_slice(env);
    let started = Instant::now();
    let o = site.lab.wsgictl(&args, &all);
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
        .env("LAB_SECRET", KNOWN_SECRET)
        .env("NO_COLOR", "1")
        .output()
        .expect("strace (tests/deps.sh installs it)");
    assert!(o.status.success(), "{}", crate::apply::all(&o));
    crate::support::strace::execs(&std::fs::read_to_string(&log).unwrap()).len() - 1
}

/// How many no-op plans [`plan_median`] takes the median of. On this project's 2-core VM a
/// plan's wall time drifts between 0.11 and 0.15 s from one few seconds to the next (the
/// same script, the same lab), so three were not enough to tell a change from the drift.
const PLANS: usize = 7;
/// pyinfra's runs per figure (a few seconds each; Ansible's take a minute and run once).
const PYINFRA_RUNS: usize = 3;
/// The peers table's wsgictl plans, taken after each of pyinfra's runs: its ratio is of two
/// medians measured in the same stretch of the VM's drift, not a minute apart.
const PLANS_PER_PYINFRA_RUN: usize = 3;

/// The median of `t` (not empty).
fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The wall time of one no-op plan of `manifest`.
fn plan_once(site: &Site, manifest: &std::path::Path) -> f64 {
    timed_on(site, manifest, "plan", &["-v"], "exec channel").0
}

/// The median wall time of [`PLANS`] no-op plans of `manifest`.
fn plan_median(site: &Site, manifest: &std::path::Path) -> f64 {
    median((0..PLANS).map(|_| plan_once(site, manifest)).collect())
}

/// The wall time of one no-op plan of `manifest` through the connection a [`keep_for`] left.
fn kept_once(site: &Site, manifest: &std::path::Path) -> f64 {
    timed_env(site, manifest, "plan", &["-v"], "(kept connection)", KEPT).0
}

/// One plan that leaves a connection kept, and a second for its keeper to log in.
fn keep_for(site: &Site, manifest: &std::path::Path) {
    timed_env(site, manifest, "plan", &["-v"], "exec channel", KEPT);
    std::thread::sleep(std::time::Duration::from_secs(1));
}

/// The median wall time of [`PLANS`] no-op plans of `manifest` through a kept connection.
fn kept_median(site: &Site, manifest: &std::path::Path) -> f64 {
    keep_for(site, manifest);
    median((0..PLANS).map(|_| kept_once(site, manifest)).collect())
}

/// The round trip `tests/bench.sh --rtt` asks for (`WSGICTL_BENCH_RTT_MS`), if any.
fn rtt() -> Option<u64> {
    std::env::var("WSGICTL_BENCH_RTT_MS").ok()?.parse().ok()
}

/// The site's sshd behind a delay proxy of `rtt_ms` round trip: the proxy's port, with its
/// host key pinned in the lab's known_hosts, and a copy of the manifest that goes through it.
fn through_proxy(site: &Site, rtt_ms: u64) -> (u16, std::path::PathBuf) {
    let port = crate::support::delay::start(
        site.lab.port,
        std::time::Duration::from_micros(rtt_ms * 500),
    );
    let line = site.lab.host_key_line().replacen(
        &format!("]:{} ", site.lab.port),
        &format!("]:{port} "),
        1,
    );
    let mut known = std::fs::read_to_string(site.lab.known_hosts()).unwrap_or_default();
    known.push_str(&line);
    std::fs::write(site.lab.known_hosts(), known).unwrap();
    let text = std::fs::read_to_string(&site.manifest).unwrap().replacen(
        &format!("    port {}\n", site.lab.port),
        &format!("    port {port}\n"),
        1,
    );
    assert!(text.contains(&format!("    port {port}\n")), "{text}");
    let manifest = site.base.join(format!("site-rtt-{rtt_ms}.kdl"));
    std::fs::write(&manifest, text).unwrap();
    (port, manifest)
}

#[test]
#[ignore = "benchmark: run tests/bench.sh"]
fn bench_apply_and_plan() {
    let sizes: Vec<usize> = std::env::var("WSGICTL_BENCH_APPS")
        .map(|s| s.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![1, 5, 10, 50]);
    // A line of its own: libtest's `test … ` is still open on stdout.
    println!();
    let rtt = rtt();
    let rtt_head = rtt.map_or(String::new(), |ms| {
        format!(" no-op plan at {ms} ms RTT | kept, at {ms} ms RTT |")
    });
    println!(
        "| apps | first apply | no-op plan | no-op plan, connection kept | no-op apply | gather processes |{rtt_head}"
    );
    println!(
        "|---:|---:|---:|---:|---:|---:|{}",
        if rtt.is_some() { "---:|---:|" } else { "" }
    );
    for n in sizes {
        let site = Site::new(n, "");
        let m = wsgictl::manifest::load(&site.manifest).unwrap();
        crate::support::apache::ApacheInstance::ensure_accounts(&m, "lab");
        let first = timed(&site, "apply", &["--yes", "-v"], "exec channels");
        let plan = timed(&site, "plan", &["-v"], "exec channel");
        let kept = kept_median(&site, &site.manifest);
        let noop = timed(&site, "apply", &["--yes", "-v"], "exec channel");
        let procs = gather_processes(&site, n);
        let cell = |(s, c): (f64, u32)| format!("{s:.2} s, {c} exec");
        let far = rtt.map_or(String::new(), |ms| {
            let (_, manifest) = through_proxy(&site, ms);
            format!(
                " {:.2} s | {:.2} s |",
                plan_median(&site, &manifest),
                kept_median(&site, &manifest)
            )
        });
        println!(
            "| {n} | {} | {} | {kept:.2} s | {} | {procs} |{far}",
            cell(first),
            cell(plan),
            cell(noop)
        );
    }
}

/// The peers (`#[ignore]`d, run by `WSGICTL_BENCH_PEERS=1 tests/bench.sh`, which installs
/// ansible-core and pyinfra from PyPI into a throwaway venv and passes its `bin/` here): a
/// no-op change detection of the same converged apps by `ansible-playbook --check --diff`,
/// pyinfra (its change detection, then "n" at its prompt; the median of three runs) and
/// `wsgictl plan` (the median of nine, three after each pyinfra run), over the same sshd,
/// with sudo, in the same run. The playbook and the deploy are generated from what wsgictl
/// renders for the site: every directory and file (owner, group, mode, content), every
/// enablement link, each app's source tree and each venv's requirements.
#[test]
#[ignore = "benchmark: run WSGICTL_BENCH_PEERS=1 tests/bench.sh"]
fn bench_peers() {
    let bin = std::path::PathBuf::from(
        std::env::var("WSGICTL_BENCH_PEERS_BIN").expect("the peers' venv bin/ (tests/bench.sh)"),
    );
    let n: usize = std::env::var("WSGICTL_BENCH_PEER_APPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let site = Site::new(n, "");
    let m = wsgictl::manifest::load(&site.manifest).unwrap();
    crate::support::apache::ApacheInstance::ensure_accounts(&m, "lab");
    timed(&site, "apply", &["--yes", "-v"], "exec channels");
    let templates = wsgictl::templates::Templates::load(None).unwrap();
    let lookup = |v: &str| (v == "LAB_SECRET").then(|| KNOWN_SECRET.to_string());
    let states = wsgictl::render::render_all(
        &m,
        &templates,
        &wsgictl::render::Selection::default(),
        &lookup,
    )
    .unwrap();
    let d = &states[0];
    let dir = site.base.join("peers");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let py = |s: &str| format!("{s:?}");

    // Ansible: one task per resource, as people write it.
    let mut yml = String::from("- hosts: lab\n  become: true\n  gather_facts: false\n  tasks:\n");
    let mut pyi = String::from("from pyinfra.operations import files, pip\n");
    for x in &d.dirs {
        yml.push_str(&format!(
            "    - file: {{path: {}, state: directory, owner: {}, group: {}, mode: '{:o}'}}\n",
            q(&x.path),
            q(&x.owner),
            q(&x.group),
            x.mode
        ));
        pyi.push_str(&format!(
            "files.directory(path={}, user={}, group={}, mode={})\n",
            py(&x.path),
            py(&x.owner),
            py(&x.group),
            py(&format!("{:o}", x.mode))
        ));
    }
    for (i, f) in d.files.iter().enumerate() {
        let local = files.join(format!("f{i}"));
        std::fs::write(&local, f.content.secret_text()).unwrap();
        yml.push_str(&format!(
            "    - copy: {{src: {}, dest: {}, owner: {}, group: {}, mode: '{:o}'}}\n      no_log: true\n",
            q(&local.display().to_string()),
            q(&f.path),
            q(&f.owner),
            q(&f.group),
            f.mode
        ));
        pyi.push_str(&format!(
            "files.put(src={}, dest={}, user={}, group={}, mode={})\n",
            py(&local.display().to_string()),
            py(&f.path),
            py(&f.owner),
            py(&f.group),
            py(&format!("{:o}", f.mode))
        ));
    }
    for l in &d.links {
        yml.push_str(&format!(
            "    - file: {{src: {}, dest: {}, state: link}}\n",
            q(&l.target),
            q(&l.path)
        ));
        pyi.push_str(&format!(
            "files.link(path={}, target={})\n",
            py(&l.path),
            py(&l.target)
        ));
    }
    for s in &d.sources {
        // The tree the current release holds.
        let dest = format!("{}/", s.dest.trim_end_matches('/'));
        yml.push_str(&format!(
            "    - copy: {{src: {}, dest: {}, owner: {}, group: {}}}\n",
            q(&format!("{}/", s.local.display())),
            q(&dest),
            q(&s.owner),
            q(&s.group)
        ));
        pyi.push_str(&format!(
            "files.sync(src={}, dest={}, user={}, group={})\n",
            py(&s.local.display().to_string()),
            py(&dest),
            py(&s.owner),
            py(&s.group)
        ));
    }
    for v in &d.venvs {
        let req = files.join(format!("{}.requirements.txt", v.app));
        std::fs::write(&req, &v.requirements).unwrap();
        yml.push_str(&format!(
            "    - pip: {{requirements: {}, virtualenv: {}}}\n",
            q(&req.display().to_string()),
            q(&v.path)
        ));
        pyi.push_str(&format!(
            "pip.packages(requirements={}, virtualenv={})\n",
            py(&req.display().to_string()),
            py(&v.path)
        ));
    }
    let key = site.lab.home().join(".ssh/id_ed25519");
    std::fs::write(dir.join("site.yml"), yml).unwrap();
    std::fs::write(dir.join("deploy.py"), pyi).unwrap();
    // Each peer's inventory for the sshd's own port, and for the delay proxy's.
    let inventories = |port: u16, tag: &str| {
        std::fs::write(
            dir.join(format!("hosts{tag}.ini")),
            format!(
                "lab ansible_host=127.0.0.1 ansible_port={port} ansible_user={} ansible_ssh_private_key_file={} ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o UserKnownHostsFile={}'\n",
                crate::support::lab::USER,
                key.display(),
                site.lab.known_hosts().display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("inventory{tag}.py")),
            format!(
                "hosts = [(\"127.0.0.1\", {{\"ssh_port\": {port}, \"ssh_user\": {:?}, \"ssh_key\": {:?}, \"ssh_known_hosts_file\": {:?}, \"_sudo\": True}})]\n",
                crate::support::lab::USER,
                key.display().to_string(),
                site.lab.known_hosts().display().to_string()
            ),
        )
        .unwrap();
    };
    inventories(site.lab.port, "");
    let rtt = rtt();
    let far = rtt.map(|ms| {
        let (port, manifest) = through_proxy(&site, ms);
        inventories(port, "-rtt");
        manifest
    });

    let run = |program: &str, args: &[&str]| -> (f64, String) {
        use std::io::Write as _;
        let started = Instant::now();
        let mut child = std::process::Command::new(bin.join(program))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .current_dir(&dir)
            .env("HOME", site.lab.home())
            .env("ANSIBLE_PIPELINING", "True")
            .env("ANSIBLE_NOCOLOR", "1")
            .env_remove("SSH_AUTH_SOCK")
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        // pyinfra asks whether to apply what it detected: no.
        let _ = child.stdin.take().unwrap().write_all(b"n\n");
        let o = child.wait_with_output().unwrap();
        let secs = started.elapsed().as_secs_f64();
        let text = crate::apply::all(&o);
        assert!(o.status.success(), "{program}: {text}");
        if std::env::var_os("WSGICTL_BENCH_VERBOSE").is_some() {
            eprintln!("{program}: {secs:.2} s\n{text}");
        }
        (secs, text)
    };
    let ansible_on = |tag: &str| {
        run(
            "ansible-playbook",
            &[
                "-i",
                &format!("hosts{tag}.ini"),
                "--check",
                "--diff",
                "site.yml",
            ],
        )
    };
    let (ansible, out) = ansible_on("");
    let recap = out
        .lines()
        .find(|l| l.starts_with("lab ") && l.contains("ok="))
        .unwrap_or("")
        .split_whitespace()
        .skip(2)
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    // The median of a few runs, as wsgictl's figure is: one run's time drifts with the VM.
    // wsgictl's plans of the same lab (`manifest`) come between them, and their median is
    // the figure both ratios are taken against.
    // So are the plans through a kept connection (the keeper outlives each pyinfra run).
    let pyinfra_on = |tag: &str, manifest: &std::path::Path| {
        let mut runs: Vec<(f64, String)> = Vec::new();
        let mut plans: Vec<f64> = Vec::new();
        let mut kept: Vec<f64> = Vec::new();
        keep_for(&site, manifest);
        for _ in 0..PYINFRA_RUNS {
            runs.push(run(
                "pyinfra",
                &[&format!("inventory{tag}.py"), "deploy.py"],
            ));
            plans.extend((0..PLANS_PER_PYINFRA_RUN).map(|_| plan_once(&site, manifest)));
            kept.extend((0..PLANS_PER_PYINFRA_RUN).map(|_| kept_once(&site, manifest)));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (secs, out) = runs.swap_remove(PYINFRA_RUNS / 2);
        (secs, out, median(plans), median(kept))
    };
    let (pyinfra, out, plan, kept) = pyinfra_on("", &site.manifest);
    let ops: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("    files.") || l.starts_with("    pip."))
        .collect();
    let would = format!(
        "{} of {} operations would change",
        ops.iter().filter(|l| l.contains("(127.0.0.1)")).count(),
        ops.len()
    );
    assert!(!out.contains(KNOWN_SECRET), "pyinfra printed the secret");
    // The same three through the delay proxy.
    let far = far.map(|manifest| {
        let ansible = ansible_on("-rtt").0;
        let (pyinfra, _, plan, kept) = pyinfra_on("-rtt", &manifest);
        (ansible, pyinfra, plan, kept)
    });
    let plans = PYINFRA_RUNS * PLANS_PER_PYINFRA_RUN;
    let peers = [
        (format!("Ansible `--check --diff` ({recap})"), ansible),
        (
            format!("pyinfra, answering `n` ({would}; median of {PYINFRA_RUNS})"),
            pyinfra,
        ),
    ];
    let ours = [
        (
            format!(
                "wsgictl `plan` (median of {plans}, {PLANS_PER_PYINFRA_RUN} after each pyinfra run)"
            ),
            plan,
        ),
        (
            format!(
                "wsgictl `plan`, connection kept (`{}=60`, a terminal's default; median of {plans}, taken with the others)",
                KEPT[0].0
            ),
            kept,
        ),
    ];
    println!();
    let far_rows = far.map(|(a, p, w, k)| ([a, p], [w, k]));
    let at = rtt.map_or(String::new(), |ms| format!(" at {ms} ms RTT |"));
    println!(
        "| tool ({n} converged apps) | no-op change detection |{at} ratio to `plan` |{at} ratio to kept `plan` |{at}"
    );
    println!(
        "|---|---:|{}",
        if far_rows.is_some() {
            "---:|---:|---:|---:|---:|"
        } else {
            "---:|---:|"
        }
    );
    for (k, (name, secs)) in peers.iter().enumerate() {
        match &far_rows {
            Some((fp, fw)) => println!(
                "| {name} | {secs:.2} s | {:.2} s | {:.0}x | {:.0}x | {:.0}x | {:.0}x |",
                fp[k],
                secs / plan,
                fp[k] / fw[0],
                secs / kept,
                fp[k] / fw[1]
            ),
            None => println!(
                "| {name} | {secs:.2} s | {:.0}x | {:.0}x |",
                secs / plan,
                secs / kept
            ),
        }
    }
    for (k, (name, secs)) in ours.iter().enumerate() {
        match &far_rows {
            Some((_, fw)) => println!("| {name} | {secs:.2} s | {:.2} s | | | | |", fw[k]),
            None => println!("| {name} | {secs:.2} s | | |"),
        }
    }
}

/// A converged lab kept up for profiling by hand (`#[ignore]`d): N apps
/// (`WSGICTL_BENCH_APPS`, first size, default 5) applied, then `target/tmp/bench-hold.sh`
/// runs `wsgictl "$@" -f MANIFEST` against it with the lab's HOME and secret; the lab stays
/// up until that file is removed.
///
/// ```sh
/// cargo test --release --test integration bench_hold -- --ignored --nocapture &
/// sh target/tmp/bench-hold.sh plan -v; rm target/tmp/bench-hold.sh
/// ```
#[test]
#[ignore = "a lab for profiling by hand"]
fn bench_hold() {
    let n: usize = std::env::var("WSGICTL_BENCH_APPS")
        .ok()
        .and_then(|s| s.split(',').next()?.trim().parse().ok())
        .unwrap_or(5);
    let site = Site::new(n, "");
    let m = wsgictl::manifest::load(&site.manifest).unwrap();
    crate::support::apache::ApacheInstance::ensure_accounts(&m, "lab");
    timed(&site, "apply", &["--yes", "-v"], "exec channels");
    let hold = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-hold.sh");
    std::fs::write(&hold, format!("{}\n", site.shell_line("\"$@\""))).unwrap();
    eprintln!("lab of {n} apps up: sh {}", hold.display());
    while hold.exists() {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
