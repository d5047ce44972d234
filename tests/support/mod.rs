//! Helpers shared by the integration tests: paths, running the binary, scrubbing output.

pub mod apache;
pub mod delay;
pub mod lab;
pub mod pebble;
pub mod place;
pub mod strace;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// The fixture files of `dir` (relative to tests/fixtures) with extension `ext`, sorted.
pub fn fixtures(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Run wsgictl from the repository root, without colour, with `env` set.
pub fn wsgictl(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsgictl"));
    cmd.current_dir(root())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("BLOG_SECRET_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running wsgictl")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Replace the checkout's absolute path, which differs between machines.
pub fn scrub(s: &str) -> String {
    s.replace(root().to_str().unwrap(), "[ROOT]")
}

/// Held while creating accounts: concurrent `useradd`s fail on the /etc/passwd lock.
pub static ACCOUNTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A secret value the tests can grep for in every output.
pub const KNOWN_SECRET: &str = "s3cr3t-VALUE-that-must-never-print-7c1f";

/// Run a command that must succeed; its output.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A string no other test (nor another run) produces: pid, a counter and the clock.
pub fn unique() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}-{n}-{t}", std::process::id())
}

/// A loopback port no other test of this run has been given, and free now. Tests run in
/// parallel in one process, and each binds its ports later (sshd, Apache, pebble): a port the
/// kernel hands out twice between a probe and a bind would make an unrelated test fail.
/// A directory under /srv/wsgictl-tests, traversable (0755) by the Apache and daemon users,
/// removed when dropped: where the lab's apps get their roots.
pub fn srv_tempdir(prefix: &str) -> tempfile::TempDir {
    std::fs::create_dir_all("/srv/wsgictl-tests").unwrap();
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/srv/wsgictl-tests")
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}
