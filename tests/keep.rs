//! A connection kept between runs (`transport::keep`) against a real sshd: the next run logs
//! in no more, a busy or dead keeper hands the run to its own connection, a run that hangs up
//! ends its script, and a socket directory open to others is not used.

use crate::support::lab::Lab;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

struct Kept {
    lab: Lab,
    _base: tempfile::TempDir,
    manifest: PathBuf,
    runtime: tempfile::TempDir,
}

impl Kept {
    fn new() -> Kept {
        let lab = Lab::start();
        let base = tempfile::tempdir().unwrap();
        let confdir = base.path().join("apache");
        std::fs::create_dir_all(&confdir).unwrap();
        let manifest = lab.manifest(base.path(), &confdir, 1, "", "");
        let runtime = tempfile::tempdir().unwrap();
        std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Kept {
            lab,
            _base: base,
            manifest,
            runtime,
        }
    }

    /// `wsgictl facts` with keeping for `persist` seconds.
    fn facts(&self, persist: &str) -> Output {
        let runtime = self.runtime.path().to_str().unwrap();
        let o = self.lab.wsgictl(
            &[
                "facts",
                "--host",
                "lab",
                "-f",
                self.manifest.to_str().unwrap(),
            ],
            &[
                ("LAB_SECRET", "x"),
                ("XDG_RUNTIME_DIR", runtime),
                ("WSGICTL_SSH_PERSIST", persist),
            ],
        );
        assert!(
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("\"os_id\""),
            "{}{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.lab.sshd_log()
        );
        o
    }

    fn logins(&self) -> usize {
        self.lab.sshd_log().matches("Accepted publickey").count()
    }

    fn dir(&self) -> PathBuf {
        self.runtime.path().join("wsgictl")
    }

    fn sockets(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Wait (at most 20 s) until `ok` holds.
    fn until(&self, what: &str, mut ok: impl FnMut(&Kept) -> bool) {
        let started = Instant::now();
        while !ok(self) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "waited for {what}: logins {}, sockets {:?}\n{}",
                self.logins(),
                self.sockets(),
                self.lab.sshd_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The keeper's socket, once it serves.
    fn socket(&self) -> PathBuf {
        self.until("the keeper's socket", |k| {
            k.sockets()
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "sock"))
        });
        self.sockets().remove(0)
    }

    /// A first run, which connects itself and leaves a keeper for 20 s: its output, and the
    /// keeper's socket once the keeper has logged in.
    fn kept(&self) -> (Output, PathBuf) {
        let o = self.facts("20");
        self.until("the keeper's login", |k| k.logins() == 2);
        (o, self.socket())
    }

    /// The pids of keepers started with this test's runtime directory.
    fn keepers(&self) -> Vec<u32> {
        let want = format!("XDG_RUNTIME_DIR={}", self.runtime.path().display());
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            if cmd.windows(20).any(|w| w == b"__wsgictl-ssh-keeper")
                && env.split(|b| *b == 0).any(|v| v == want.as_bytes())
            {
                pids.push(pid);
            }
        }
        pids
    }
}

/// A client of the keeper's socket, as a run is: the greeting, then one script.
fn ask(socket: &Path, script: &str) -> BufReader<UnixStream> {
    let s = UnixStream::connect(socket).unwrap();
    let mut r = BufReader::new(s);
    let mut hello = String::new();
    r.read_line(&mut hello).unwrap();
    assert_eq!(hello, "wsgictl-keeper 1\n");
    let head = format!("run 0 0 {}\n{script}", script.len());
    r.get_mut().write_all(head.as_bytes()).unwrap();
    r
}

#[test]
fn a_kept_connection_serves_the_next_runs_without_a_new_login() {
    let k = Kept::new();
    // The run's own login, then the keeper's.
    let (direct, socket) = k.kept();
    let mode = std::fs::metadata(k.dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the socket directory is this account's alone");
    let kept = k.facts("20");
    k.facts("20");
    assert_eq!(
        k.logins(),
        2,
        "kept runs log in no more:\n{}",
        k.lab.sshd_log()
    );
    // The same facts either way (but for how many programs the host ran for them).
    let facts = |o: &Output| -> String {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.contains("\"processes\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(facts(&direct), facts(&kept));
    // The keeper's command line holds no value: its target came on stdin.
    let pids = k.keepers();
    assert_eq!(pids.len(), 1, "one keeper: {pids:?}");
    let cmd = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
    let args: Vec<_> = cmd.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
    assert_eq!(args.len(), 2, "{:?}", String::from_utf8_lossy(&cmd));
    // Nor its environment a secret of the manifest's (`from-env`).
    let env = std::fs::read(format!("/proc/{}/environ", pids[0])).unwrap();
    assert!(
        !env.windows(10).any(|w| w == b"LAB_SECRET"),
        "{}",
        String::from_utf8_lossy(&env)
    );
    // `plan -v` says where its scripts went.
    let runtime = k.runtime.path().to_str().unwrap();
    let env = [
        ("LAB_SECRET", "x"),
        ("XDG_RUNTIME_DIR", runtime),
        ("WSGICTL_SSH_PERSIST", "20"),
    ];
    let plan = k
        .lab
        .wsgictl(&["plan", "-v", "-f", k.manifest.to_str().unwrap()], &env);
    let err = String::from_utf8_lossy(&plan.stderr);
    assert!(err.contains(" ms (kept connection), gather "), "{err}");
    assert_eq!(k.logins(), 2);
    // Keeping off: a run of its own, whatever keeper runs.
    k.facts("0");
    assert_eq!(k.logins(), 3);
    assert!(socket.exists());
}

#[test]
fn an_idle_keeper_leaves_and_takes_its_socket_with_it() {
    let k = Kept::new();
    k.facts("3");
    let socket = k.socket();
    k.facts("3");
    assert_eq!(k.logins(), 2, "{}", k.lab.sshd_log());
    k.until("the keeper to leave", |k| {
        !socket.exists() && k.keepers().is_empty()
    });
    k.facts("3");
    k.until("a new keeper", |k| k.logins() == 4);
}

#[test]
fn a_keeper_whose_session_died_hands_the_run_to_a_new_connection() {
    let k = Kept::new();
    let (_, socket) = k.kept();
    // The only session left is the keeper's: end it on the host's side.
    let killed = std::process::Command::new("pkill")
        .args(["-P", &k.lab.sshd_pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    k.facts("20");
    assert_eq!(
        k.logins(),
        3,
        "the run connected itself:\n{}",
        k.lab.sshd_log()
    );
    k.until("the dead keeper to leave", |k| {
        !socket.exists() && k.keepers().is_empty()
    });
}

/// A keeper killed outright (the OOM killer) leaves its socket behind: the next run connects
/// itself, and the keeper it leaves takes the socket's place.
#[test]
fn a_killed_keepers_socket_is_passed_over_and_replaced() {
    let k = Kept::new();
    let (_, socket) = k.kept();
    for pid in k.keepers() {
        // SAFETY: a pid read from /proc this instant; SIGKILL, as the OOM killer sends.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    k.until("the keeper to die", |k| k.keepers().is_empty());
    assert!(
        socket.exists(),
        "a killed keeper cannot take its socket away"
    );
    // The run connects itself (3), and leaves a keeper (4).
    k.facts("20");
    k.until("a new keeper", |k| {
        k.logins() == 4 && k.keepers().len() == 1
    });
    k.facts("20");
    assert_eq!(k.logins(), 4, "the new keeper serves the socket's path");
}

#[test]
fn a_busy_keeper_leaves_the_run_to_its_own_connection() {
    let k = Kept::new();
    let (_, socket) = k.kept();
    let mut busy = ask(&socket, "sleep 4; echo slept\n");
    // The keeper's own script ends, and its client hangs up: a run that waited for the
    // keeper would go on then, too late.
    let holder = std::thread::spawn(move || {
        let mut answer = String::new();
        busy.read_line(&mut answer).unwrap();
        answer
    });
    let started = Instant::now();
    k.facts("20");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the run did not wait for the busy keeper: {:?}",
        started.elapsed()
    );
    assert_eq!(k.logins(), 3);
    assert_eq!(
        holder.join().unwrap(),
        "l 5\n",
        "the keeper's own script still ends"
    );
}

#[test]
fn a_run_that_hangs_up_ends_its_script_on_the_host() {
    let k = Kept::new();
    let (_, socket) = k.kept();
    // Where the lab's account may write.
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let marker = open.path().join("finished");
    let m = marker.display();
    let mut r = ask(
        &socket,
        &format!(
            "i=0; while [ $i -lt 20 ]; do echo tick; sleep 0.2; i=$((i+1)); done; : > '{m}'\n"
        ),
    );
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "l 4\n");
    drop(r);
    k.until("the keeper to leave", |k| {
        !socket.exists() && k.keepers().is_empty()
    });
    std::thread::sleep(Duration::from_secs(5));
    assert!(!marker.exists(), "the script went on after its run hung up");
}

#[test]
fn a_socket_directory_open_to_others_is_not_used() {
    let k = Kept::new();
    std::fs::create_dir(k.dir()).unwrap();
    std::fs::set_permissions(k.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    k.facts("20");
    k.facts("20");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(k.logins(), 2, "each run connects itself");
    assert!(k.sockets().is_empty(), "{:?}", k.sockets());
    assert!(k.keepers().is_empty());
}

/// A first deploy and a change, each applied through a kept connection: the site answers
/// with the change, the next plan (kept too) is empty, and the host saw one login for all.
#[test]
fn an_apply_through_a_kept_connection_converges() {
    let site = crate::apply::Site::new(1, "");
    let runtime = tempfile::tempdir().unwrap();
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let env = [
        ("LAB_SECRET", crate::support::KNOWN_SECRET),
        ("XDG_RUNTIME_DIR", runtime.path().to_str().unwrap()),
        ("WSGICTL_SSH_PERSIST", "30"),
    ];
    let manifest = site.manifest.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-f", manifest]);
        let o = site.lab.wsgictl(&all, &env);
        assert_eq!(o.status.code(), Some(0), "{}", crate::apply::all(&o));
        o
    };
    let logins = || site.lab.sshd_log().matches("Accepted publickey").count();
    run(&["plan"]);
    let started = Instant::now();
    while logins() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no keeper logged in"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run(&["apply", "--yes"]);
    assert_eq!(site.get(1, "/").0, 200);
    crate::apply::edit(&site.manifest, "\"hello 1\"", "\"hello again\"");
    run(&["apply", "--yes"]);
    let (code, body) = site.get(1, "/");
    assert_eq!(code, 200);
    assert!(body.contains("greeting: hello again"), "{body}");
    let plan = run(&["plan", "-v"]);
    let err = String::from_utf8_lossy(&plan.stderr);
    assert!(err.contains("(kept connection)"), "{err}");
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("0 to create, 0 to change, 0 to delete"),
        "{}",
        crate::apply::all(&plan)
    );
    assert_eq!(logins(), 2, "{}", site.lab.sshd_log());
}

/// Without `WSGICTL_SSH_PERSIST`: a run in a pipe (CI, a script) leaves nothing behind, a run
/// on a terminal leaves a keeper.
#[test]
fn a_terminal_keeps_by_default_and_a_pipe_does_not() {
    let k = Kept::new();
    let runtime = k.runtime.path().to_str().unwrap();
    let facts = ["facts", "--host", "lab", "-f", k.manifest.to_str().unwrap()];
    let o = k.lab.wsgictl(
        &facts,
        // Empty is unset.
        &[
            ("LAB_SECRET", "x"),
            ("XDG_RUNTIME_DIR", runtime),
            ("WSGICTL_SSH_PERSIST", ""),
        ],
    );
    assert!(o.status.success(), "{}", crate::apply::all(&o));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(k.logins(), 1, "{}", k.lab.sshd_log());
    assert!(k.keepers().is_empty() && k.sockets().is_empty());
    // util-linux `script` gives the run a pseudo-terminal.
    let q = |s: &str| shlex::try_quote(s).unwrap().into_owned();
    let line = format!(
        "HOME={} LAB_SECRET=x XDG_RUNTIME_DIR={} {} {} >/dev/null",
        q(k.lab.home().to_str().unwrap()),
        q(runtime),
        q(env!("CARGO_BIN_EXE_wsgictl")),
        facts.map(q).join(" ")
    );
    let o = std::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("WSGICTL_SSH_PERSIST")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::apply::all(&o));
    k.until("the terminal's keeper", |k| {
        k.logins() == 3 && k.keepers().len() == 1
    });
    k.socket();
}
