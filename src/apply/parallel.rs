//! Venv builds side by side: the apply script's changes that only create venvs and install
//! packages into them (pure).
//!
//! The plan keeps every app's `venv:` and `pip:` changes together; those of different venvs
//! share nothing but pip's download cache, so each venv becomes one job of `parallel.sh`, at
//! most one per core of the host. Once every job has ended, the steps of those that succeeded
//! are announced in plan order, then those of the ones that failed, up to the step each
//! failed at, where the run fails as it would have run them one by one: the outcome's
//! "still changed" is then every venv that was built.

use crate::plan::{Change, Op};
use std::fmt::Write as _;

/// The helpers the jobs run with (`par_start`, `par_all`, `par_check`, …).
pub const HELPERS: &str = include_str!("parallel.sh");

/// The venv a change builds, when creating or filling one is all it does.
pub fn venv_of(c: &Change) -> Option<&str> {
    let mut venv = None;
    for op in &c.ops {
        let v = match op {
            Op::CreateVenv { path, .. } => path.as_str(),
            Op::PipInstall { venv, .. } => venv.as_str(),
            _ => return None,
        };
        if venv.is_some_and(|w| w != v) {
            return None;
        }
        venv = Some(v);
    }
    venv
}

/// The jobs of a run of venv changes: each venv's changes, in plan order, by first appearance.
/// Fewer than two venvs make no jobs (nothing to run side by side).
pub fn jobs<'a>(block: &[&'a Change]) -> Vec<Vec<&'a Change>> {
    let mut jobs: Vec<(&str, Vec<&Change>)> = Vec::new();
    for c in block {
        let Some(v) = venv_of(c) else { continue };
        match jobs.iter_mut().find(|(w, _)| *w == v) {
            Some((_, cs)) => cs.push(c),
            None => jobs.push((v, vec![c])),
        }
    }
    if jobs.len() < 2 {
        return Vec::new();
    }
    jobs.into_iter().map(|(_, cs)| cs).collect()
}

/// The script of `jobs`: each job a function of its changes' ops (`op` renders one op), all
/// started, waited for, then each change's step announced and checked, in plan order.
pub fn script(
    jobs: &[Vec<&Change>],
    order: &[&Change],
    mut op: impl FnMut(&Op, &Change) -> String,
) -> String {
    let q = |s: &str| {
        crate::shell::quote(s)
            .expect("ids hold no NUL")
            .into_owned()
    };
    let mut s = String::from(HELPERS);
    for (k, job) in jobs.iter().enumerate() {
        let _ = writeln!(s, "par_job_{k}() {{");
        for c in job {
            let _ = writeln!(s, "par_at={}", q(&c.id.to_string()));
            for o in &c.ops {
                s.push_str(&op(o, c));
            }
        }
        let _ = writeln!(s, "}}\npar_start {k} par_job_{k}");
    }
    s.push_str("par_all\n");
    let job_of = |c: &Change| {
        jobs.iter()
            .position(|j| j.iter().any(|d| std::ptr::eq(*d, c)))
    };
    // The steps of the jobs that succeeded, then those of the ones that did not, each as far
    // as it got: what the run leaves changed is every step before the one it fails at.
    for c in order {
        if let Some(k) = job_of(c) {
            let _ = writeln!(s, "! par_ok {k} || step {}", q(&c.id.to_string()));
        }
    }
    let mut ended = vec![false; jobs.len()];
    for c in order {
        let Some(k) = job_of(c) else { continue };
        let id = q(&c.id.to_string());
        let _ = write!(s, "par_ok {k} || {{ step {id}; ");
        if !ended[k] {
            ended[k] = true;
            let _ = write!(s, "par_ended {k}; ");
        }
        let _ = writeln!(s, "par_check {k} {id}; }}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use crate::resource_id::ResourceId;

    fn change(id: ResourceId, ops: Vec<Op>) -> Change {
        Change {
            id,
            action: Action::Create,
            reason: String::new(),
            before: None,
            details: Vec::new(),
            diff: None,
            ops,
        }
    }

    fn venv(app: &str, path: &str) -> Change {
        change(
            ResourceId::Venv(app.into()),
            vec![Op::CreateVenv {
                path: path.into(),
                python: "/usr/bin/python3".into(),
            }],
        )
    }

    fn pip(app: &str, path: &str) -> Change {
        change(
            ResourceId::PipPackages(app.into()),
            vec![Op::PipInstall {
                venv: path.into(),
                requirements_sha256: "0".into(),
                force: false,
            }],
        )
    }

    #[test]
    fn each_venv_is_one_job_of_its_changes_in_plan_order() {
        let cs = [
            venv("a", "/srv/a/venv"),
            pip("a", "/srv/a/venv"),
            pip("b", "/srv/b/venv"),
            // A second app on the first app's venv joins that job (never two jobs on one venv).
            pip("c", "/srv/a/venv"),
        ];
        let block: Vec<&Change> = cs.iter().collect();
        let ids: Vec<Vec<String>> = jobs(&block)
            .iter()
            .map(|j| j.iter().map(|c| c.id.to_string()).collect())
            .collect();
        assert_eq!(
            ids,
            [
                vec!["venv:a", "packages:a", "packages:c"],
                vec!["packages:b"]
            ]
            .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>())
        );
        assert!(jobs(&block[..2]).is_empty(), "one venv runs as before");
    }

    #[test]
    fn a_change_that_does_more_than_build_a_venv_is_not_a_job() {
        let mut c = pip("a", "/srv/a/venv");
        c.ops.push(Op::Chmod {
            path: "/srv/a".into(),
            mode: "0755".into(),
        });
        assert_eq!(venv_of(&c), None);
        assert_eq!(venv_of(&pip("a", "/v")), Some("/v"));
    }

    #[test]
    fn steps_are_announced_after_every_job_ended_the_good_ones_first() {
        let cs = [
            venv("a", "/va"),
            pip("a", "/va"),
            venv("b", "/vb"),
            pip("b", "/vb"),
        ];
        let block: Vec<&Change> = cs.iter().collect();
        let s = script(&jobs(&block), &block, |o, _| format!("# {o:?}\n"));
        let tail = &s[s.find("par_all\n").unwrap()..];
        assert_eq!(
            tail,
            "par_all\n\
             ! par_ok 0 || step venv:a\n! par_ok 0 || step packages:a\n\
             ! par_ok 1 || step venv:b\n! par_ok 1 || step packages:b\n\
             par_ok 0 || { step venv:a; par_ended 0; par_check 0 venv:a; }\n\
             par_ok 0 || { step packages:a; par_check 0 packages:a; }\n\
             par_ok 1 || { step venv:b; par_ended 1; par_check 1 venv:b; }\n\
             par_ok 1 || { step packages:b; par_check 1 packages:b; }\n"
        );
        assert!(
            s.contains("par_job_1() {\npar_at=venv:b\n# CreateVenv"),
            "{s}"
        );
    }

    /// Run `jobs` (shell of one op per change) through the helpers with the prelude's `fail`
    /// and `step` stood in: (exit code, output).
    fn run(cs: &[Change], body: impl Fn(&Change) -> String) -> (i32, String) {
        let block: Vec<&Change> = cs.iter().collect();
        let mut sh = String::from(
            "bk=$(mktemp -d)\ntrap 'rm -rf \"$bk\"' EXIT\nsay() { echo \"W $*\"; }\nfail() { say FAILED \"$1\"; shift; [ $# -gt 0 ] && printf '%s\\n' \"$@\"; exit 1; }\nstep() { say STEP \"$1\"; }\n",
        );
        sh.push_str(&script(&jobs(&block), &block, |_, c| body(c)));
        sh.push_str("say DONE\n");
        let o = std::process::Command::new("sh")
            .args(["-c", &sh])
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }

    #[test]
    fn a_failed_job_fails_the_run_at_its_step_after_the_good_ones() {
        let cs = [
            venv("a", "/va"),
            pip("a", "/va"),
            venv("b", "/vb"),
            pip("b", "/vb"),
            venv("c", "/vc"),
        ];
        let (code, out) = run(&cs, |c| match c.id.to_string().as_str() {
            "packages:a" => "fail pip 'no such package' 'second line'\n".into(),
            _ => "sleep 0.1\n".into(),
        });
        assert_eq!(code, 1, "{out}");
        assert_eq!(
            out,
            "W STEP venv:b\nW STEP packages:b\nW STEP venv:c\nW STEP venv:a\n\
             W STEP packages:a\nW FAILED pip\nno such package\nsecond line\n"
        );
        let (code, out) = run(&cs, |_| ":\n".into());
        assert_eq!((code, out.lines().last()), (0, Some("W DONE")), "{out}");
    }

    #[test]
    fn a_job_that_exits_on_its_own_stops_the_run_with_its_output() {
        let cs = [venv("a", "/va"), venv("b", "/vb")];
        let (code, out) = run(&cs, |c| match c.id.to_string().as_str() {
            "venv:b" => "say STALE /vb\necho 'expected: not a symbolic link'\nexit 76\n".into(),
            _ => ":\n".into(),
        });
        assert_eq!(code, 76, "{out}");
        assert_eq!(
            out,
            "W STEP venv:a\nW STEP venv:b\nW STALE /vb\nexpected: not a symbolic link\n"
        );
    }
}
