//! A fleet: three hosts (three sshd instances on loopback, each with an Apache instance of its
//! own) planned and applied in parallel with `--limit`, `--parallel` and a rolling
//! `--serial` apply, one host unreachable.

use crate::support::apache::ApacheInstance;
use crate::support::lab::{Lab, USER};
use crate::support::*;
use std::process::{Command, Output};
use std::time::Instant;

struct Fleet {
    labs: Vec<Option<Lab>>,
    apaches: Vec<ApacheInstance>,
    ports: Vec<u16>,
    _base: tempfile::TempDir,
    manifest: std::path::PathBuf,
}

const HOSTS: usize = 3;

impl Fleet {
    fn new() -> Fleet {
        let labs: Vec<Lab> = (0..HOSTS).map(|_| Lab::start()).collect();
        // One operator: the first lab's HOME, its key authorized and every host key known.
        let key = labs[0].home().join(".ssh/id_ed25519.pub");
        let mut known = String::new();
        for l in &labs {
            l.authorize(&key);
            known.push_str(&l.host_key_line());
        }
        std::fs::write(labs[0].known_hosts(), known).unwrap();
        let apaches: Vec<ApacheInstance> = (0..HOSTS).map(|_| ApacheInstance::new()).collect();
        let base = srv_tempdir("fleet");
        let blog = root().join("examples/single-app");
        let ports: Vec<u16> = (0..HOSTS).map(|_| free_port()).collect();
        let mut text = String::new();
        for i in 1..=HOSTS {
            let root = base.path().join(format!("srv/app{i}"));
            text.push_str(&format!(
                "host \"web{i}\" {{\n    address \"127.0.0.1\"\n    port {ssh}\n    user \"{USER}\"\n    sudo #true\n    apache {{\n        confdir \"{confdir}\"\n    }}\n}}\n\
                 app \"app{i}\" {{\n    host \"web{i}\"\n    server-name \"app{i}.example.com\"\n    port {port}\n    root \"{root}\"\n    user \"blog\"\n    \
                 source \"{blog}/blog\"\n    venv {{\n        requirements \"{blog}/blog/requirements.txt\"\n    }}\n    \
                 django {{\n        settings \"blog.settings\"\n        static \"/static/\" \"{root}/static\"\n    }}\n    health \"/\"\n    \
                 env {{\n        BLOG_GREETING \"hello {i}\"\n        DJANGO_ALLOWED_HOSTS \"app{i}.example.com\"\n        DJANGO_STATIC_ROOT \"{root}/static\"\n    }}\n    secret \"DJANGO_SECRET_KEY\" from-env=\"LAB_SECRET\"\n}}\n",
                ssh = labs[i - 1].port,
                confdir = apaches[i - 1].confdir().display(),
                port = ports[i - 1],
                root = root.display(),
                blog = blog.display(),
            ));
        }
        let manifest = base.path().join("site.kdl");
        std::fs::write(&manifest, text).unwrap();
        Fleet {
            labs: labs.into_iter().map(Some).collect(),
            apaches,
            ports,
            _base: base,
            manifest,
        }
    }

    fn wsgictl(&self, args: &[&str]) -> Output {
        let lab = self.labs[0].as_ref().expect("web1's lab runs");
        let mut all = args.to_vec();
        all.extend(["-f", self.manifest.to_str().unwrap()]);
        lab.wsgictl(&all, &[("LAB_SECRET", KNOWN_SECRET)])
    }

    /// GET / of app `i` from its host's Apache: the status and the body.
    fn get(&self, i: usize) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "20", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Host: app{i}.example.com"))
            .arg(format!("http://127.0.0.1:{}/", self.ports[i - 1]))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.manifest).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&self.manifest, text.replacen(from, to, 1)).unwrap();
    }
}

fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[test]
fn three_hosts_in_parallel_one_unreachable_and_a_rolling_apply_that_stops_at_a_bad_batch() {
    let mut fleet = Fleet::new();

    // --limit: globs and `!`, by host or by app; a term that matches nothing is refused.
    let o = fleet.wsgictl(&["plan", "--limit", "web*,!web3"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Host web1") && out.contains("Host web2"),
        "{out}"
    );
    assert!(!out.contains("web3"), "{out}");
    let o = fleet.wsgictl(&["plan", "--limit", "app2"]);
    assert!(
        stdout(&o).contains("Host web2") && !stdout(&o).contains("web1"),
        "{}",
        all(&o)
    );
    let o = fleet.wsgictl(&["plan", "--limit", "web1,wbe2"]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("`wbe2` matches no host or app")
            && stderr(&o).contains("hosts: web1, web2, web3"),
        "{}",
        all(&o)
    );

    // The wall time of a plan of all three against the slowest of them alone (printed for
    // the README; timing is not asserted).
    let mut alone = Vec::new();
    for h in ["web1", "web2", "web3"] {
        let t = Instant::now();
        let o = fleet.wsgictl(&["plan", "--limit", h]);
        assert_eq!(o.status.code(), Some(0), "{}", all(&o));
        alone.push(t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let o = fleet.wsgictl(&["plan", "--parallel", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let together = t.elapsed().as_secs_f64();
    eprintln!(
        "fleet plan: three hosts {together:.2} s; alone {:.2} / {:.2} / {:.2} s",
        alone[0], alone[1], alone[2]
    );
    // Not on a terminal: one plain line per host when it ends.
    for h in ["web1", "web2", "web3"] {
        assert!(
            stderr(&o).contains(&format!("{h}: planned in ")),
            "{}",
            all(&o)
        );
    }

    // web3 unreachable: the others are planned and applied, it is reported, exit 1.
    drop(fleet.labs[2].take());
    let t = Instant::now();
    let o = fleet.wsgictl(&["apply", "--yes", "--parallel", "3"]);
    eprintln!(
        "fleet first apply, web3 down: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}\n{}",
        all(&o),
        fleet.apaches[0].error_log()
    );
    let err = stderr(&o);
    assert!(err.contains("error: web3: "), "{err}");
    assert!(err.contains("web3: failed in "), "{err}");
    assert!(
        !err.contains("error: web1") && !err.contains("error: web2"),
        "{err}"
    );
    for i in 1..=2 {
        let (code, body) = fleet.get(i);
        assert_eq!(code, 200, "app{i}: {body}");
        assert!(body.contains(&format!("hello {i}")), "{body}");
    }

    // A rolling apply, one host at a time: web1's new release fails its health check (apply
    // switches it back to the last one), so the rollout stops and web2 is not touched.
    fleet.edit("hello 1", "changed 1");
    fleet.edit("hello 2", "changed 2");
    fleet.edit("    health \"/\"", "    health \"/no-such-page/\"");
    let o = fleet.wsgictl(&[
        "apply",
        "--yes",
        "--serial",
        "1",
        "--limit",
        "web*,!web3",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let doc: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", all(&o)));
    let outcome = |h: &str| {
        doc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["host"] == h)
            .unwrap_or_else(|| panic!("{h} in {doc}"))
            .clone()
    };
    assert_eq!(outcome("web1")["outcome"], "failed", "{doc}");
    let e = outcome("web1")["error"].as_str().unwrap().to_string();
    assert!(
        e.contains("failed its health check") && e.contains("→ 404"),
        "{e}"
    );
    assert_eq!(outcome("web2")["outcome"], "skipped", "{doc}");
    assert!(
        outcome("web2")["error"]
            .as_str()
            .unwrap()
            .contains("the rollout stopped after `web1`"),
        "{doc}"
    );
    assert!(
        fleet.get(1).1.contains("hello 1"),
        "web1 is back on its last release"
    );
    assert!(fleet.get(2).1.contains("hello 2"), "web2 was not touched");

    // Fixed, the rollout goes through: web2 changes too.
    fleet.edit("    health \"/no-such-page/\"", "    health \"/\"");
    let o = fleet.wsgictl(&["apply", "--yes", "--serial", "50%", "--limit", "!web3"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(fleet.get(1).1.contains("changed 1"), "{}", all(&o));
    assert!(fleet.get(2).1.contains("changed 2"), "{}", all(&o));
}
