//! The stages wired together for one host: connect, gather once, render with the facts, plan.
//!
//! Stage: orchestration (the only I/O is the transport's one exec and the local source scan).
//! Hosts are independent: [`plan_hosts`] runs one connection per host, at most `--parallel`
//! at once (`fleet::bounded`), and keeps each host's error to itself.

use crate::desired::DesiredState;
use crate::facts::{self, Facts};
use crate::manifest::{Host, Manifest};
use crate::plan::Plan;
use crate::render::{EnvLookup, HostEnv, Only, render_host};
use crate::resources;
use crate::source::SourceFile;
use crate::templates::Templates;
use crate::transport::keep;
use crate::transport::local::LocalTransport;
use crate::transport::ssh::{SshOptions, SshTransport, Target};
use crate::transport::{Stats, Transport};
use anyhow::Context as _;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How to reach hosts.
pub struct Reach {
    /// Run on this machine instead of over SSH.
    pub local: bool,
    pub ssh: SshOptions,
    /// Home directory whose `.ssh` is used.
    pub home: std::path::PathBuf,
}

/// Everything learnt while planning one host.
pub struct HostPlan {
    pub plan: Plan,
    pub facts: Facts,
    pub desired: DesiredState,
    pub env: HostEnv,
    pub target: String,
    pub stats: Stats,
    pub gather_time: Duration,
    /// The local source files of each app, as planned (apply tars them from this list).
    pub sources: BTreeMap<String, Vec<SourceFile>>,
    /// The connection the facts came through, kept for apply.
    pub transport: Box<dyn Transport>,
}

pub fn connect(host: &Host, reach: &Reach) -> anyhow::Result<Box<dyn Transport>> {
    if reach.local {
        return Ok(Box::new(LocalTransport::new(&host.name)));
    }
    let target = Target::resolve(host, &reach.home)?;
    // A connection kept by an earlier run (`transport::keep`), else a new one, kept for the
    // next run when keeping is on.
    let kept = keep::persist().and_then(|p| Some((p, keep::socket_path(&target).ok()?)));
    if let Some((_, socket)) = &kept
        && let Some(t) = keep::reuse(&target, socket, &reach.ssh)
    {
        return Ok(Box::new(t));
    }
    let direct = SshTransport::connect(target.clone(), &reach.ssh)?;
    if let Some((p, socket)) = &kept {
        let _ = keep::spawn(&target, socket, &reach.ssh, *p);
    }
    Ok(Box::new(direct))
}

/// What a gather does besides reading facts, in the same round trip (`apply` asks for both).
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    /// Record the error logs' sizes, so `doctor` reads only what comes after this run.
    pub offsets: bool,
    /// Request each app's `health` path from the host, after everything else.
    pub health: bool,
    /// This gather follows a change: a bad health answer is asked again (daemons are being
    /// replaced). Before anything changed, one request is the answer.
    pub settling: bool,
    /// The plan's clock (seconds since the epoch) for new release ids: a saved plan's, so
    /// that planning again for `apply FILE` names its releases the same. `None`: now.
    pub now: Option<u64>,
}

impl Extras {
    pub const NONE: Extras = Extras {
        offsets: false,
        health: false,
        settling: false,
        now: None,
    };
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Gather the facts of one host: every probe its apps need, for every candidate layout,
/// then the `extras`.
pub fn gather(
    m: &Manifest,
    host: &Host,
    templates: &Templates,
    only: Only<'_>,
    lookup: EnvLookup<'_>,
    transport: &mut dyn Transport,
    extras: Extras,
) -> anyhow::Result<Facts> {
    let envs = HostEnv::candidates(host);
    let candidates = envs
        .iter()
        .map(|env| render_host(m, host, templates, env, only, lookup))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut probes = resources::probes(host, &candidates);
    let apps: Vec<&str> = m.apps_on(&host.name).map(|a| a.name.as_str()).collect();
    if extras.offsets {
        for env in &envs {
            // Only the layout this host has: the other candidate's confdir does not exist.
            let confdir = crate::shell::quote(&env.confdir)
                .expect("no NUL")
                .into_owned();
            probes.push(facts::Probe::RecordOffsets {
                script: format!(
                    "[ -d {confdir} ] || exit 0\n{}",
                    crate::doctor::live::record_offsets(env, &apps)
                ),
            });
        }
    }
    if extras.health {
        probes.extend(health_probes(m, host, only, extras.settling));
    }
    let mut found = facts::gather(transport, &host.name, &probes, host.sudo)?;
    // Settings that fail to load may say a secret in their exception.
    found.scrub(&crate::render::secret_values(m, host, lookup));
    Ok(found)
}

/// Each selected app's `health` request, from the host itself with its server name as Host.
/// With `settling` (right after a change), a bad answer is asked again, up to four times.
pub fn health_probes(
    m: &Manifest,
    host: &Host,
    only: Only<'_>,
    settling: bool,
) -> Vec<facts::Probe> {
    m.apps_on(&host.name)
        .filter(|a| crate::render::keeps(only, &a.name))
        .filter(|a| a.health.is_some())
        .map(|a| {
            // Its path is the app's `health`.
            let p = crate::doctor::live::AppProbe::of(a);
            facts::Probe::Health {
                app: p.name.clone(),
                url: p.url(),
                target: p.curl_target(),
                expect: a.health_expect.clone(),
                attempts: if settling { 4 } else { 1 },
            }
        })
        .collect()
}

/// Connect, gather, render and plan one host.
pub fn plan_host(
    m: &Manifest,
    host: &Host,
    templates: &Templates,
    only: Only<'_>,
    lookup: EnvLookup<'_>,
    reach: &Reach,
    extras: Extras,
) -> anyhow::Result<HostPlan> {
    plan_with(
        m,
        host,
        templates,
        only,
        lookup,
        connect(host, reach)?,
        extras,
    )
}

/// Gather, render and plan one host over an open connection.
pub fn plan_with(
    m: &Manifest,
    host: &Host,
    templates: &Templates,
    only: Only<'_>,
    lookup: EnvLookup<'_>,
    mut transport: Box<dyn Transport>,
    extras: Extras,
) -> anyhow::Result<HostPlan> {
    let started = Instant::now();
    let facts = gather(m, host, templates, only, lookup, transport.as_mut(), extras)?;
    let gather_time = started.elapsed();
    let env = HostEnv::from_facts(
        host,
        &facts,
        &crate::desired::DesiredReplaced::of(m, &host.name),
    );
    let desired = render_host(m, host, templates, &env, only, lookup)?;
    let mut sources: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
    for s in &desired.sources {
        let files = crate::source::scan(&s.local, &s.exclude).with_context(|| {
            format!(
                "reading the source of app `{}` ({})",
                s.app,
                s.local.display()
            )
        })?;
        sources.insert(s.app.clone(), files);
    }
    let secrets: BTreeMap<String, Vec<String>> = m
        .apps_on(&host.name)
        .map(|a| {
            (
                a.name.value.clone(),
                a.secrets.iter().map(|s| s.name.clone()).collect(),
            )
        })
        .collect();
    let inputs = resources::Inputs {
        desired: &desired,
        sources: &sources,
        facts: &facts,
        secrets: &secrets,
        now: extras.now.unwrap_or_else(now),
    };
    let mut plan =
        resources::plan(&inputs).with_context(|| format!("planning {}", transport.describe()))?;
    plan.planned_at = inputs.now;
    plan.rootless = rootless_summary(m, host, &desired, &plan);
    plan.findings = crate::preflight::check(m, &host.name, &facts, env.layout);
    plan.findings.extend(crate::preflight_site::check(
        &desired,
        &facts,
        &plan.changes,
    ));
    Ok(HostPlan {
        plan,
        target: transport.describe(),
        stats: transport.stats(),
        facts,
        desired,
        env,
        gather_time,
        sources,
        transport,
    })
}

/// The plan header's note of a rootless host, with the front end's snippets for each app
/// whose vhost this plan creates (a first deploy of it): printed once, when it is news.
fn rootless_summary(
    m: &Manifest,
    host: &Host,
    desired: &crate::desired::DesiredState,
    plan: &crate::plan::Plan,
) -> Option<crate::plan::RootlessSummary> {
    let r = desired.rootless.as_ref()?;
    let new: Vec<String> = m
        .apps_on(&host.name)
        .filter(|a| {
            plan.changes.iter().any(|c| {
                c.id == crate::resource_id::ResourceId::Vhost(a.name.value.clone())
                    && c.action == crate::plan::Action::Create
            })
        })
        .map(|a| {
            crate::render::rootless::front_end(
                &a.server_name,
                &crate::render::rootless::backend_url(a.listen_address(), *a.port),
            )
        })
        .collect();
    Some(crate::plan::RootlessSummary {
        account: r.account.clone(),
        server_root: r.server_root.clone(),
        supervision: r.supervision,
        front_end: (!new.is_empty()).then(|| new.concat()),
    })
}

/// Plan every host of `targets` (each with the apps it is limited to), as `pool` says;
/// results in the order of `targets`.
pub fn plan_hosts(
    m: &Manifest,
    targets: &[(&Host, Option<BTreeSet<String>>)],
    templates: &Templates,
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
    reach: &Reach,
    extras: Extras,
    pool: crate::fleet::Pool<'_>,
) -> Vec<(String, anyhow::Result<HostPlan>)> {
    let progress = pool.progress;
    crate::fleet::bounded(targets.iter().collect(), pool.parallel, |(h, only)| {
        let name = h.name.value.clone();
        progress.stage(&name, "connecting");
        let result = connect(h, reach).and_then(|t| {
            progress.stage(&name, "gathering");
            plan_with(m, h, templates, only.as_ref(), lookup, t, extras)
        });
        match &result {
            Ok(hp) if hp.plan.blocked() => progress.done(&name, "blocked by preflight"),
            Ok(hp) if hp.plan.is_empty() => progress.done(&name, "no changes, planned"),
            Ok(_) => progress.done(&name, "planned"),
            Err(_) => progress.done(&name, "failed"),
        }
        (name, result)
    })
}
