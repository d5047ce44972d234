//! Apply: run a host's plan as one script, then prove the result.
//!
//! Stage: apply. Builds what the script carries (real file contents, a tar of the source
//! files to upload, the requirements), runs it on the connection the plan was made on, and
//! reads its outcome: done, lock held (naming the holder), stale (a `before` fingerprint no
//! longer matches), Apache's configtest failed (files restored, nothing reloaded), or a step
//! failed (with its output). Then it gathers and plans again — anything left is an error —
//! and requests each app's `health` path from the host itself.

mod parallel;
pub mod script;

use crate::manifest::{Host, Layout, Manifest};
use crate::pipeline::HostPlan;
use crate::plan::{Op, Plan};
use crate::render::HostEnv;
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::time::Instant;

pub struct Options {
    pub lock_timeout_secs: u64,
    /// Bound on the apply script's whole run (venvs and pip installs included).
    pub timeout: std::time::Duration,
    /// Test-only (`WSGICTL_TEST_ABORT_AFTER`): die right after this step, as if killed.
    pub abort_after: Option<String>,
}

/// What happened on one host.
#[derive(Debug)]
pub struct Outcome {
    /// Steps run, in order.
    pub steps: Vec<String>,
    pub reloaded: bool,
    pub touched: Vec<String>,
    /// What the import tests found worth saying (DEBUG on, STATIC_ROOT elsewhere).
    pub warnings: Vec<String>,
    pub health: Vec<Health>,
    /// Exec channels this host's connection opened: plan, apply, re-plan, health.
    pub exec_channels: u32,
    pub seconds: f64,
}

/// One app's health check: its URL and the HTTP status, or why there was none.
#[derive(Debug)]
pub struct Health {
    pub app: String,
    pub url: String,
    pub status: Result<u16, String>,
}

impl Health {
    /// It answered 2xx or 3xx (and with `health-expect`'s text: its absence is an error).
    pub fn good(&self) -> bool {
        matches!(self.status, Ok(c) if (200..400).contains(&c))
    }
}

/// Why an apply stopped. Callers may branch on it.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("another apply holds the lock on {target}: {holder}")]
    Locked { target: String, holder: String },
    #[error("remote file changed since plan; run plan again ({path} on {target}: {detail})")]
    Stale {
        target: String,
        path: String,
        detail: String,
    },
    #[error(
        "Apache's configuration test failed on {target}; Apache was not reloaded (it keeps serving \
         the previous configuration). {aftermath}:\n{message}"
    )]
    Configtest {
        target: String,
        message: String,
        aftermath: Aftermath,
    },
    #[error(
        "app `{app}` does not import on {target} as its daemon user (catalogue: wsgi-import-exception); \
         nothing was switched: Apache was not reloaded and no daemon restarted. {aftermath}:\n{output}"
    )]
    Import {
        target: String,
        app: String,
        output: String,
        aftermath: Aftermath,
    },
    #[error(
        "app `{app}` on {target}: Django's ALLOWED_HOSTS refuses {refused} (catalogue: \
         django-allowed-hosts-400); nothing was switched. Allow the server name (and aliases) in the settings, \
         or in the app's `env` where the settings read it from the environment. {aftermath}"
    )]
    Hosts {
        target: String,
        app: String,
        refused: String,
        aftermath: Aftermath,
    },
    #[error(
        "app `{app}` on {target}: Django's settings contradict the manifest; stopped before any \
         Django hook ran, and nothing was switched. {aftermath}:\n{message}"
    )]
    Settings {
        target: String,
        app: String,
        message: String,
        aftermath: Aftermath,
    },
    #[error("{report}")]
    Unhealthy { report: String },
    #[error("{step} failed on {target}. {aftermath}:\n{output}")]
    Step {
        target: String,
        step: String,
        output: String,
        aftermath: Aftermath,
    },
}

/// What a run that stopped left behind: what it put back, what it could not, and what stays
/// changed on purpose (uploaded code, a venv, migrations: nothing the old site reads).
#[derive(Debug, Clone, Default)]
pub struct Aftermath {
    /// Whether restore() ran (`RESTORED`): not after the configuration and import tests
    /// passed (a failed reload or touch), when what was written stays.
    pub restored: bool,
    /// Paths restore() could not put back (`UNRESTORED` lines).
    pub unrestored: Vec<String>,
    /// Steps that ran and are not undone, in words.
    pub stays: Vec<String>,
}

impl Aftermath {
    /// From the steps the script announced and the restore steps that failed.
    pub fn of(steps: &[String], restored: bool, unrestored: Vec<String>) -> Aftermath {
        use crate::resource_id::ResourceId as R;
        let stays = steps
            .iter()
            .filter_map(|s| s.parse::<R>().ok())
            .filter_map(|id| match &id {
                R::HostPackages => Some("the distribution packages it installed".to_string()),
                R::Group(g) => Some(format!("group {g}")),
                R::Account(u) => Some(format!("account {u}")),
                R::Dir(d) => Some(format!("directory {d}")),
                R::Access { user, path } => Some(format!("{user}'s traversal of {path}")),
                R::Source(a) => Some(format!("the uploaded source of `{a}`")),
                R::Release(a) => Some(format!("the new release of `{a}` (not running)")),
                R::Venv(a) => Some(format!("the rebuilt venv of `{a}`")),
                R::PipPackages(a) => Some(format!("the packages pip installed for `{a}`")),
                R::Hook { hook, app } => Some(format!("manage.py {} of `{app}`", hook.name())),
                R::Certificate(a) => Some(format!("the certificate certbot obtained for `{a}`")),
                _ => None,
            })
            .collect();
        Aftermath {
            restored,
            unrestored,
            stays,
        }
    }
}

impl std::fmt::Display for Aftermath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.restored {
            return f.write_str(
                "Nothing was put back: the configuration and import tests had passed, and everything this run changed stays",
            );
        }
        if self.unrestored.is_empty() {
            f.write_str(
                "Every file, enabled link, mode and owner this run changed is back as it was",
            )?;
        } else {
            write!(
                f,
                "Could NOT put back: {} (see the output); everything else this run changed that the site reads is back as it was",
                self.unrestored.join(", ")
            )?;
        }
        if !self.stays.is_empty() {
            write!(
                f,
                "; still changed, as the old site does not read them: {}",
                self.stays.join(", ")
            )?;
        }
        Ok(())
    }
}

/// How this host's Apache is tested and reloaded: only the instance its confdir names.
///
/// Debian: `/etc/apache2` is the `apache2` unit and `/etc/apache2-NAME` the `apache2@NAME`
/// unit (README.multiple-instances); any other confdir has no unit, and `apache2ctl graceful`
/// with its `APACHE_CONFDIR` reloads it. RHEL: `/etc/httpd` is the `httpd` unit; another
/// confdir is its own ServerRoot (`httpd -d DIR`), reloaded with `-k graceful`. The confdir's
/// characters were checked at load time (`[A-Za-z0-9/._-]`), and every value is quoted anyway.
pub fn apache_control(env: &HostEnv) -> script::ApacheControl {
    let q = |s: &str| crate::shell::quote(s).expect("no NUL").into_owned();
    if let Some(r) = &env.rootless {
        let ctl = q(&r.ctl());
        // systemd --user from an SSH exec: the user manager's bus is under XDG_RUNTIME_DIR.
        let reload = match r.supervision {
            crate::render::Supervision::SystemdUser => format!(
                "XDG_RUNTIME_DIR=/run/user/$(id -u); export XDG_RUNTIME_DIR; if systemctl --user is-active --quiet {u}; then systemctl --user reload {u}; else systemctl --user start {u}; fi",
                u = crate::render::USER_UNIT
            ),
            crate::render::Supervision::Cron => format!("{ctl} -k graceful"),
        };
        return script::ApacheControl { ctl, reload };
    }
    let confdir = q(&env.confdir);
    let (ctl, graceful, unit) = match env.layout {
        Layout::Debian => {
            let ctl = format!("APACHE_CONFDIR={confdir} apache2ctl");
            let unit = match env.confdir.as_str() {
                "/etc/apache2" => Some("apache2".to_string()),
                c => c
                    .strip_prefix("/etc/apache2-")
                    .filter(|n| !n.is_empty() && !n.contains('/'))
                    .map(|n| format!("apache2@{n}")),
            };
            (ctl.clone(), format!("{ctl} graceful"), unit)
        }
        Layout::Rhel if env.confdir == "/etc/httpd" => (
            "httpd".to_string(),
            "apachectl graceful".to_string(),
            Some("httpd".to_string()),
        ),
        Layout::Rhel => {
            let ctl = format!("httpd -d {confdir}");
            (ctl.clone(), format!("{ctl} -k graceful"), None)
        }
    };
    let reload = match unit {
        Some(unit) => {
            let unit = q(&unit);
            format!(
                "if [ -d /run/systemd/system ] && systemctl is-active --quiet {unit}; then systemctl reload {unit}; else {graceful}; fi"
            )
        }
        None => graceful,
    };
    script::ApacheControl { ctl, reload }
}

/// Apply `hp.plan` on its host, then plan again and check health. `watch` is told each step
/// as the host starts it (`step 3/12 packages:blog`).
pub fn apply_host(
    m: &Manifest,
    host: &Host,
    templates: &crate::templates::Templates,
    mut hp: HostPlan,
    opts: &Options,
    lookup: crate::render::EnvLookup<'_>,
    watch: &dyn Fn(&str),
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let target = hp.transport.describe();
    let mut contents: BTreeMap<String, String> = hp
        .desired
        .files
        .iter()
        .map(|f| (f.path.clone(), f.content.secret_text().to_string()))
        .collect();
    // A new release's `.wsgi` and env file are the app's, written into the release.
    for op in hp.plan.changes.iter().flat_map(|c| &c.ops) {
        if let Op::WriteFile { path, .. } = op
            && !contents.contains_key(path)
            && let Some(shown_as) = crate::resources::release::desired_path(&hp.desired, path)
            && let Some(text) = contents.get(&shown_as).cloned()
        {
            contents.insert(path.clone(), text);
        }
    }
    check_hashes(&hp.plan, &contents)?;
    let tars = source_tars(&hp.plan, &hp.desired, &hp.sources)?;
    let requirements: BTreeMap<String, String> = hp
        .desired
        .venvs
        .iter()
        .map(|v| (v.path.clone(), v.requirements.clone()))
        .collect();
    let nonce = crate::facts::nonce()?;
    let holder = holder();
    let apache = apache_control(&hp.env);
    let app_names: Vec<&str> = m.apps_on(&host.name).map(|a| a.name.as_str()).collect();
    let offsets = crate::doctor::live::record_offsets(&hp.env, &app_names);
    let import_tests = import_tests(m, host, &hp);
    let text = script::build(&script::Inputs {
        plan: &hp.plan,
        nonce: &nonce,
        holder: &holder,
        lock_timeout_secs: opts.lock_timeout_secs,
        contents: &contents,
        tars: &tars,
        requirements: &requirements,
        apache: &apache,
        reload_marker: &hp.desired.reload_marker,
        lock: &hp.env.lock_path(),
        state_dir: &hp.env.state_dir(),
        run_dir: &hp.env.run_dir(),
        owed_dir: &hp.env.owed_dir(),
        backup_prefix: &hp.env.backup_prefix(),
        abort_after: opts.abort_after.as_deref(),
        record_offsets: &offsets,
        import_tests: &import_tests,
    });
    hp.transport.set_script_timeout(opts.timeout);
    // `step 3/12 packages:blog` while it runs.
    let total = script::step_count(&hp.plan, &import_tests);
    let tag = format!("WSGICTL {nonce} STEP ");
    let mut k = 0;
    let out = hp
        .transport
        .run_script_watched(&text, host.sudo, &mut |line| {
            if let Some(id) = line.strip_prefix(&tag) {
                k += 1;
                watch(&format!("step {k}/{total} {id}"));
            }
        })?;
    // Programs run on the host (pip, manage.py, the import test) may echo a setting.
    let text = crate::render::scrub(
        &String::from_utf8_lossy(&out.output),
        &crate::render::secret_values(m, host, lookup),
    );
    let expects: BTreeMap<String, crate::settings_check::Expect> = hp
        .desired
        .settings_checks
        .iter()
        .map(|c| (c.expect.app.clone(), c.expect.clone()))
        .collect();
    let (steps, django, mut settings_warnings) = outcome(&text, &nonce, &target, &expects)?;
    let mut warnings = django_warnings(m, host, &django);
    warnings.append(&mut settings_warnings);

    // Prove it: gather and plan again; nothing may be left.
    let mut after = crate::pipeline::plan_with(
        m,
        host,
        templates,
        None,
        lookup,
        hp.transport,
        crate::pipeline::Extras {
            offsets: false,
            health: true,
            settling: true,
            now: None,
        },
    )?;
    let left: Vec<String> = after
        .plan
        .changes
        .iter()
        .filter(|c| c.action != crate::plan::Action::NoOp)
        .map(|c| format!("{} {}  {}", c.action.symbol(), c.id, c.reason))
        .collect();
    let health = health_of(m, host, &after.facts);
    // A release that fails its health check is switched back at once.
    let backs = unhealthy_switches(&hp.plan, &hp.desired, &steps, &health);
    if !backs.is_empty() {
        let report = switch_back(m, host, &mut after, &backs, opts, &health)?;
        return Err(ApplyError::Unhealthy { report }.into());
    }
    let stats = after.transport.stats();
    if !left.is_empty() {
        bail!(
            "after applying, {target} still differs from the manifest:\n  {}",
            left.join("\n  ")
        );
    }
    Ok(Outcome {
        reloaded: steps.iter().any(|s| s == "reload"),
        touched: steps
            .iter()
            .filter_map(|s| s.strip_prefix("touch:").map(str::to_string))
            .collect(),
        steps,
        warnings,
        health,
        exec_channels: stats.exec_channels,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The apps this run switched to a new release whose health check then failed, each with
/// the release that ran before (an app's first release has none and is not switched back).
fn unhealthy_switches<'a>(
    plan: &Plan,
    desired: &'a crate::desired::DesiredState,
    steps: &[String],
    health: &[Health],
) -> Vec<crate::resources::release::Back<'a>> {
    let mut out = Vec::new();
    for op in plan.changes.iter().flat_map(|c| &c.ops) {
        let Op::Switch { app, to, from, .. } = op else {
            continue;
        };
        let Some(from) = from.as_deref().filter(|f| f != to) else {
            continue;
        };
        if !steps.iter().any(|s| *s == format!("switch:{app}")) {
            continue;
        }
        let bad = health.iter().any(|h| h.app == *app && !h.good());
        let (Some(release), Some(wsgi)) = (
            desired.releases.iter().find(|r| r.app == *app),
            desired.file(crate::desired::FileRole::WsgiScript, app),
        ) else {
            continue;
        };
        if bad {
            out.push(crate::resources::release::Back {
                release,
                now: to.clone(),
                to: crate::facts::releases::id_of(from).to_string(),
                wsgi: wsgi.path.clone(),
            });
        }
    }
    out
}

/// Switch `backs` back, restart them, ask their health again, and say what is live.
fn switch_back(
    m: &Manifest,
    host: &Host,
    after: &mut HostPlan,
    backs: &[crate::resources::release::Back<'_>],
    opts: &Options,
    failed: &[Health],
) -> anyhow::Result<String> {
    let target = after.transport.describe();
    let plan = crate::resources::release::back_plan(&host.name, backs, "its health check failed");
    let switched = run_back(
        after.transport.as_mut(),
        host,
        &after.env,
        &after.desired.reload_marker,
        &plan,
        opts.lock_timeout_secs,
    );
    let apps: Vec<&str> = backs.iter().map(|b| b.release.app.as_str()).collect();
    let probes: Vec<crate::facts::Probe> = crate::pipeline::health_probes(m, host, None, true)
        .into_iter()
        .filter(|p| matches!(p, crate::facts::Probe::Health { app, .. } if apps.contains(&app.as_str())))
        .collect();
    let mut lines = Vec::new();
    for b in backs {
        let app = &b.release.app;
        let new = crate::facts::releases::id_of(&b.now);
        let was = failed
            .iter()
            .find(|h| h.app == *app)
            .map(|h| format!("{} → {}", h.url, status_text(&h.status)))
            .unwrap_or_default();
        lines.push(format!(
            "app `{app}` on {target}: release {new} failed its health check ({was})"
        ));
    }
    match switched {
        Ok(_) => {
            let facts =
                crate::facts::gather(after.transport.as_mut(), &host.name, &probes, host.sudo)?;
            let now = health_of(m, host, &facts);
            for b in backs {
                let app = &b.release.app;
                let answer = now
                    .iter()
                    .find(|h| h.app == *app)
                    .map(|h| format!("{} → {}", h.url, status_text(&h.status)))
                    .unwrap_or_else(|| "no answer".into());
                lines.push(format!(
                    "switched `{app}` back to release {} and restarted its daemon (Apache was not reloaded): release {} is live, {answer}",
                    b.to, b.to
                ));
            }
            lines.push(
                "the failed release stays on the host for a look (`wsgictl releases`); fix it and apply again"
                    .into(),
            );
        }
        Err(e) => lines.push(format!(
            "switching back failed, so the failed release is still live: {e:#}"
        )),
    }
    Ok(lines.join("\n"))
}

fn status_text(s: &Result<u16, String>) -> String {
    match s {
        Ok(c) => c.to_string(),
        Err(e) => e.clone(),
    }
}

/// Run a plan of switches and restarts only (`release::back_plan`) under the host lock; the
/// steps it ran.
pub fn run_back(
    transport: &mut dyn crate::transport::Transport,
    host: &Host,
    env: &HostEnv,
    reload_marker: &str,
    plan: &Plan,
    lock_timeout_secs: u64,
) -> anyhow::Result<Vec<String>> {
    let nonce = crate::facts::nonce()?;
    let apache = apache_control(env);
    let none = BTreeMap::new();
    let text = script::build(&script::Inputs {
        plan,
        nonce: &nonce,
        holder: &holder(),
        lock_timeout_secs,
        contents: &none,
        tars: &BTreeMap::new(),
        requirements: &none,
        apache: &apache,
        reload_marker,
        lock: &env.lock_path(),
        state_dir: &env.state_dir(),
        run_dir: &env.run_dir(),
        owed_dir: &env.owed_dir(),
        backup_prefix: &env.backup_prefix(),
        abort_after: None,
        record_offsets: ":\n",
        import_tests: &[],
    });
    let out = transport.run_script(&text, host.sudo)?;
    let text = String::from_utf8_lossy(&out.output);
    let (steps, _, _) = outcome(&text, &nonce, &transport.describe(), &BTreeMap::new())?;
    Ok(steps)
}

/// Every file the plan writes must be what was planned: the manifest, templates and secrets
/// rendered now must hash to the plan's sha256.
fn check_hashes(plan: &Plan, contents: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for c in &plan.changes {
        for op in &c.ops {
            if let Op::WriteFile { path, sha256, .. } = op {
                let now = contents
                    .get(path)
                    .map(|t| crate::source::sha256_hex(t.as_bytes()));
                if now.as_deref() != Some(sha256.as_str()) {
                    bail!(
                        "{path} would no longer be written as planned (the manifest, a template or a secret changed since the plan); run plan again"
                    );
                }
            }
        }
    }
    Ok(())
}

/// A tar per app of the files its sync uploads, with their planned modes.
fn source_tars(
    plan: &Plan,
    desired: &crate::desired::DesiredState,
    scanned: &BTreeMap<String, Vec<crate::source::SourceFile>>,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for c in &plan.changes {
        for op in &c.ops {
            let Op::SyncSource { app, upload, .. } = op else {
                continue;
            };
            let src = desired
                .sources
                .iter()
                .find(|s| s.app == *app)
                .context("no source for the app")?;
            // The modes planning saw; the local tree is not scanned again.
            let modes: BTreeMap<&str, u32> = scanned
                .get(app)
                .into_iter()
                .flatten()
                .map(|f| (f.path.as_str(), f.mode))
                .collect();
            let mut b = tar::Builder::new(Vec::new());
            let mut dirs = std::collections::BTreeSet::new();
            for rel in upload {
                let mut parent = std::path::Path::new(rel).parent();
                while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                    dirs.insert(p.to_path_buf());
                    parent = p.parent();
                }
            }
            for d in &dirs {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o750);
                h.set_size(0);
                b.append_data(&mut h, d, std::io::empty())?;
            }
            for rel in upload {
                let data = std::fs::read(src.local.join(rel))
                    .with_context(|| format!("reading {rel} of app `{app}`"))?;
                let mut h = tar::Header::new_gnu();
                h.set_mode(*modes.get(rel.as_str()).unwrap_or(&0o640));
                h.set_size(data.len() as u64);
                h.set_mtime(0);
                b.append_data(&mut h, rel, data.as_slice())?;
            }
            out.insert(app.clone(), b.into_inner()?);
        }
    }
    Ok(out)
}

/// The steps the script reported, or why it stopped.
pub fn outcome(
    output: &str,
    nonce: &str,
    target: &str,
    expects: &BTreeMap<String, crate::settings_check::Expect>,
) -> anyhow::Result<(Vec<String>, Django, Vec<String>)> {
    let mut settings: BTreeMap<String, crate::settings_check::Report> = BTreeMap::new();
    let explain = |app: &str, r: Option<&crate::settings_check::Report>, errors: bool| {
        let Some(e) = expects.get(app) else {
            return Vec::new();
        };
        let Some(r) = r else {
            return vec![format!("app `{app}`: the settings check printed no report")];
        };
        if let Some(err) = &r.error {
            return if errors {
                vec![format!(
                    "app `{app}`: {} does not load as {}'s daemon user: {err}",
                    e.settings, e.app
                )]
            } else {
                Vec::new()
            };
        }
        r.problems
            .iter()
            .filter(|p| p.is_error() == errors)
            .map(|p| {
                let (msg, fix) = crate::settings_check::explain(e, p);
                format!("{msg}.\n  fix: {fix}")
            })
            .collect()
    };
    let tag = format!("WSGICTL {nonce} ");
    let mut steps = Vec::new();
    let mut unrestored = Vec::new();
    let mut restored = false;
    let mut django = Django::new();
    let mut lines = output.lines();
    let rest = |lines: std::str::Lines<'_>| {
        lines
            .filter(|l| !l.starts_with(&tag))
            .collect::<Vec<_>>()
            .join("\n")
    };
    while let Some(line) = lines.next() {
        let Some(msg) = line.strip_prefix(&tag) else {
            continue;
        };
        let (word, arg) = msg.split_once(' ').unwrap_or((msg, ""));
        match word {
            "STEP" => steps.push(arg.to_string()),
            "UNRESTORED" => unrestored.push(arg.to_string()),
            "RESTORED" => restored = true,
            "DONE" => {
                let warnings = settings
                    .iter()
                    .flat_map(|(app, r)| explain(app, Some(r), false))
                    .collect();
                return Ok((steps, django, warnings));
            }
            "SETTINGS" => {
                let (app, json) = arg.split_once(' ').unwrap_or((arg, ""));
                if let Ok(Some(r)) = crate::settings_check::parse(json) {
                    settings.insert(app.to_string(), r);
                }
            }
            "SETTINGSFAIL" => {
                return Err(ApplyError::Settings {
                    target: target.into(),
                    app: arg.into(),
                    message: explain(arg, settings.get(arg), true).join("\n"),
                    aftermath: Aftermath::of(&steps, restored, unrestored),
                }
                .into());
            }
            "DJANGO" => {
                let (app, json) = arg.split_once(' ').unwrap_or((arg, ""));
                if let Ok(info) = serde_json::from_str(json) {
                    django.insert(app.to_string(), info);
                }
            }
            "IMPORT" => {
                return Err(ApplyError::Import {
                    target: target.into(),
                    app: arg.into(),
                    output: rest(lines).trim().to_string(),
                    aftermath: Aftermath::of(&steps, restored, unrestored),
                }
                .into());
            }
            "HOSTS" => {
                let refused = django
                    .get(arg)
                    .map(|d| d.refused.join(", "))
                    .unwrap_or_default();
                return Err(ApplyError::Hosts {
                    target: target.into(),
                    app: arg.into(),
                    refused,
                    aftermath: Aftermath::of(&steps, restored, unrestored),
                }
                .into());
            }
            "LOCKED" => {
                return Err(ApplyError::Locked {
                    target: target.into(),
                    holder: rest(lines).trim().to_string(),
                }
                .into());
            }
            "STALE" => {
                return Err(ApplyError::Stale {
                    target: target.into(),
                    path: arg.into(),
                    detail: rest(lines).replace('\n', "; "),
                }
                .into());
            }
            "CONFIGTEST" => {
                return Err(ApplyError::Configtest {
                    target: target.into(),
                    message: rest(lines).trim().to_string(),
                    aftermath: Aftermath::of(&steps, restored, unrestored),
                }
                .into());
            }
            "FAILED" => {
                let step = steps.last().cloned().unwrap_or_default();
                return Err(ApplyError::Step {
                    target: target.into(),
                    step: format!("{arg} ({step})"),
                    output: rest(lines).trim().to_string(),
                    // The failed step itself is not "still changed": it did not finish.
                    aftermath: Aftermath::of(
                        &steps[..steps.len().saturating_sub(1)],
                        restored,
                        unrestored,
                    ),
                }
                .into());
            }
            "ABORTED" => {
                bail!(
                    "apply on {target} was aborted after step {} ({arg}) (WSGICTL_TEST_ABORT_AFTER)",
                    steps.len()
                )
            }
            _ => {}
        }
    }
    bail!(
        "the apply script on {target} stopped before finishing (last step: {}); run apply again to converge",
        steps.last().map_or("none", String::as_str)
    )
}

/// What each app's import test reported, by app.
pub type Django = BTreeMap<String, crate::doctor::live::DjangoInfo>;

/// The apps this plan switches (all of the host's planned apps when Apache reloads; those
/// whose `.wsgi` is touched otherwise), each with its import test.
fn import_tests(m: &Manifest, host: &Host, hp: &HostPlan) -> Vec<(String, String)> {
    use crate::plan::Handler;
    let reload = hp.plan.handlers.contains(&Handler::ConfigtestAndReload);
    let touched: Vec<&str> = hp
        .plan
        .handlers
        .iter()
        .filter_map(|h| match h {
            Handler::TouchWsgi { app, .. } => Some(app.as_str()),
            _ => None,
        })
        .collect();
    m.apps_on(&host.name)
        .filter(|a| hp.desired.venvs.iter().any(|v| v.app == *a.name))
        .filter(|a| reload || touched.contains(&a.name.as_str()))
        .map(|a| {
            let mut probe = crate::doctor::live::AppProbe::of(a);
            // A release about to be switched to is imported from its own directory.
            let to = hp
                .plan
                .changes
                .iter()
                .flat_map(|c| &c.ops)
                .find_map(|op| match op {
                    Op::Switch { app, to, .. } if *app == *a.name => Some(to.clone()),
                    _ => None,
                });
            if let Some(to) = to {
                probe.in_release(&format!("{}/{to}", probe.root), a.django.overlay);
            }
            (
                a.name.value.clone(),
                crate::doctor::live::import_command(&probe),
            )
        })
        .collect()
}

/// DEBUG on, or a STATIC_ROOT that is not the directory Apache serves: worth a warning.
fn django_warnings(m: &Manifest, host: &Host, django: &Django) -> Vec<String> {
    let mut out = Vec::new();
    for a in m.apps_on(&host.name) {
        let Some(info) = django.get(a.name.as_str()) else {
            continue;
        };
        if info.debug {
            out.push(format!(
                "app `{}` runs with DEBUG on: tracebacks and settings are shown to anyone who gets an error",
                *a.name
            ));
        }
        let dir = &a.django.static_files.dir;
        if info.static_root.as_deref().map(|s| s.trim_end_matches('/')) != Some(dir.as_str()) {
            out.push(format!(
                "app `{}`: Django's STATIC_ROOT is {:?} but Apache serves {dir} (static-files-denied-or-missing)",
                *a.name, info.static_root
            ));
        }
    }
    out
}

/// What each app's `health` request answered, from facts gathered with `Extras::health`.
pub fn health_of(m: &Manifest, host: &Host, facts: &crate::facts::Facts) -> Vec<Health> {
    m.apps_on(&host.name)
        .filter_map(|a| {
            let fact = facts.health.get(a.name.as_str())?;
            Some(Health {
                app: a.name.value.clone(),
                url: crate::doctor::live::AppProbe::of(a).url(),
                status: match fact {
                    crate::facts::Fact::Known(code) => Ok(*code),
                    crate::facts::Fact::Unknown { error } => Err(error.clone()),
                },
            })
        })
        .collect()
}

/// `user=… host=… pid=… started=…` for the lock file.
fn holder() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", crate::transport::local::effective_uid()));
    let host = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let secs = crate::pipeline::now();
    format!(
        "user={user} host={host} pid={} started={secs}",
        std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(layout: Layout, confdir: &str) -> script::ApacheControl {
        apache_control(&HostEnv {
            layout,
            confdir: confdir.into(),
            apache_user: "www-data".into(),
            apache_group: "www-data".into(),
            listening: Default::default(),
            rootless: None,
        })
    }

    #[test]
    fn each_instance_reloads_its_own_unit() {
        let main = control(Layout::Debian, "/etc/apache2");
        assert!(
            main.reload.contains("systemctl reload apache2;"),
            "{}",
            main.reload
        );
        let blog = control(Layout::Debian, "/etc/apache2-blog");
        assert!(
            blog.reload.contains("systemctl reload apache2@blog;"),
            "{}",
            blog.reload
        );
        assert!(!blog.reload.contains(" apache2;"));
        assert!(
            blog.reload
                .contains("APACHE_CONFDIR=/etc/apache2-blog apache2ctl graceful")
        );
        // Not an instance systemd knows: never the main unit.
        let other = control(Layout::Debian, "/srv/apache-test");
        assert_eq!(
            other.reload,
            "APACHE_CONFDIR=/srv/apache-test apache2ctl graceful"
        );
        let rhel = control(Layout::Rhel, "/etc/httpd");
        assert!(rhel.reload.contains("systemctl reload httpd;"));
        let rhel2 = control(Layout::Rhel, "/etc/httpd-shop");
        assert_eq!(rhel2.ctl, "httpd -d /etc/httpd-shop");
        assert_eq!(rhel2.reload, "httpd -d /etc/httpd-shop -k graceful");
    }

    #[test]
    fn a_hostile_confdir_stays_one_word() {
        let c = control(Layout::Debian, "/etc/apache2-x;id>p");
        assert!(c.reload.contains("'apache2@x;id>p'"), "{}", c.reload);
        assert!(c.ctl.contains("APACHE_CONFDIR='/etc/apache2-x;id>p'"));
    }

    fn failure(lines: &[&str]) -> String {
        let out: String = lines
            .iter()
            .map(|l| format!("WSGICTL n0nce {l}\n"))
            .collect::<String>()
            + "what the step printed\n";
        format!(
            "{:#}",
            outcome(&out, "n0nce", "web1", &BTreeMap::new()).unwrap_err()
        )
    }

    #[test]
    fn a_settings_stop_explains_each_error_and_keeps_warnings_for_success() {
        let expect = crate::settings_check::Expect {
            app: "shop".into(),
            settings: "proj.settings.production".into(),
            env_file: "/srv/shop/app.env".into(),
            src: "/srv/shop/src".into(),
            code: "/srv/shop/releases".into(),
            static_dir: "/srv/shop/static".into(),
            media_dir: None,
            data: None,
            served: vec!["/srv/shop/static".into()],
            tls: true,
            collectstatic: true,
            overlay: false,
        };
        let expects: BTreeMap<String, _> = [("shop".to_string(), expect)].into();
        let report = r#"{"static_root": "/srv/shop/src/static", "problems": [{"code": "static-root", "severity": "error", "value": "/srv/shop/src/static", "want": "/srv/shop/static"}, {"code": "csrf-origin-scheme", "severity": "warning", "value": "shop.example.com"}]}"#;
        let out = format!(
            "WSGICTL n0nce STEP settings:shop\nWSGICTL n0nce SETTINGS shop {report}\nWSGICTL n0nce RESTORED\nWSGICTL n0nce SETTINGSFAIL shop\n"
        );
        let m = format!(
            "{:#}",
            outcome(&out, "n0nce", "web1", &expects).unwrap_err()
        );
        assert!(
            m.contains("Django's settings contradict the manifest"),
            "{m}"
        );
        assert!(
            m.contains("STATIC_ROOT is /srv/shop/src/static")
                && m.contains("fix: change `static \"...\" \"/srv/shop/static\"`")
                && m.contains("overlay #true"),
            "{m}"
        );
        assert!(
            !m.contains("CSRF_TRUSTED_ORIGINS"),
            "warnings are not the error: {m}"
        );
        // On success the warnings are what is left to say.
        let ok = format!("WSGICTL n0nce SETTINGS shop {report}\nWSGICTL n0nce DONE\n");
        let (_, _, warnings) = outcome(&ok, "n0nce", "web1", &expects).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("CSRF_TRUSTED_ORIGINS"), "{warnings:?}");
    }

    #[test]
    fn a_stopped_run_says_exactly_what_was_put_back() {
        let m = failure(&[
            "STEP source:blog",
            "STEP env-file:blog",
            "STEP migrate:blog",
            "UNRESTORED /srv/blog/app.env",
            "RESTORED",
            "FAILED manage.py migrate",
        ]);
        assert!(
            m.contains("manage.py migrate (migrate:blog) failed on web1"),
            "{m}"
        );
        assert!(m.contains("Could NOT put back: /srv/blog/app.env"), "{m}");
        assert!(
            m.contains(
                "still changed, as the old site does not read them: the uploaded source of `blog`:"
            ),
            "{m}"
        );
        assert!(
            !m.contains("manage.py migrate of `blog`"),
            "the failed step did not run: {m}"
        );
        let m = failure(&[
            "STEP vhost:blog",
            "STEP configtest",
            "STEP reload",
            "FAILED reload",
        ]);
        assert!(m.contains("Nothing was put back"), "{m}");
        let m = failure(&[
            "STEP vhost:blog",
            "STEP configtest",
            "RESTORED",
            "CONFIGTEST",
        ]);
        assert!(
            m.contains(
                "Every file, enabled link, mode and owner this run changed is back as it was"
            ),
            "{m}"
        );
    }
}
