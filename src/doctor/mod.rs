//! The doctor: what the common mod_wsgi deployment errors look like, and how to tell them.
//!
//! Stage: doctor. [`catalogue`] is the table of scenarios and log signatures; [`signatures`]
//! maps log lines to scenarios; [`live`] builds the live round trip's script and parses it;
//! [`diagnose`] turns what was seen into findings; [`show`] prints them. Only [`run_host`]
//! performs I/O (one exec over the connection the plan was made on).

pub mod catalogue;
pub mod diagnose;
pub mod live;
pub mod show;
pub mod signatures;

use crate::manifest::Manifest;
use crate::pipeline::HostPlan;

/// Request the apps of one planned host and read its live state; diagnose it.
pub fn run_host(
    m: &Manifest,
    manifest_text: &str,
    mut hp: HostPlan,
    only: crate::render::Only<'_>,
    sudo: bool,
) -> anyhow::Result<diagnose::HostReport> {
    let host = hp.plan.host.clone();
    let probes = live::app_probes(m, &host, only);
    let control = crate::apply::apache_control(&hp.env);
    let all: Vec<&str> = m.apps_on(&host).map(|a| a.name.as_str()).collect();
    let inputs = live::Inputs {
        env: &hp.env,
        ctl: &control.ctl,
        apps: probes.clone(),
        record: live::record_offsets(&hp.env, &all),
    };
    let apache_user = hp.env.apache_user.clone();
    let nonce = crate::facts::nonce()?;
    let script = live::build(&inputs, &apache_user, &nonce);
    // Requests may each wait for a request-timeout; the default bound is plenty.
    let out = hp.transport.run_script(&script, sudo)?;
    // The import test and the logs may echo a setting: no secret value reaches a finding.
    let lookup = |v: &str| std::env::var(v).ok();
    let secrets = m
        .host(&host)
        .map(|h| crate::render::secret_values(m, h, &lookup))
        .unwrap_or_default();
    let text = crate::render::scrub(&String::from_utf8_lossy(&out.output), &secrets);
    let frames = crate::facts::frame::split(&text, &nonce);
    let mut seen = live::parse(&inputs, &apache_user, &frames);
    seen.scrub(&secrets);
    let file = m.path.display().to_string();
    Ok(diagnose::diagnose(&diagnose::Inputs {
        m,
        src: diagnose::Source {
            file: &file,
            text: manifest_text,
        },
        host: &host,
        target: &hp.target,
        plan: &hp.plan,
        layout: hp.env.layout,
        probes: &probes,
        live: &seen,
        // Alternatives that need SELinux are not offered on a host without it.
        no_selinux: hp
            .facts
            .system
            .known()
            .is_some_and(|s| matches!(s.selinux.as_str(), "absent" | "disabled")),
        rootless: hp.facts.rootless.as_ref().and_then(|f| f.known()),
        ctl: &control.ctl,
    }))
}
