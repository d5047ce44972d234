//! Host prerequisites: what the host lacks of Apache, mod_wsgi, venv support for each app's
//! Python, and acl, as packages of its own manager; apply installs them first, unless the
//! manifest says `packages #false` (then preflight reports them). Pure.

use super::{Inputs, noop};
use crate::facts::Facts;
use crate::plan::{Action, Change, Op};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Manager {
    Apt,
    Dnf,
}

impl Manager {
    /// The command that installs `names`, as people type it.
    pub fn command(self, names: &[String]) -> String {
        match self {
            Manager::Apt => format!("apt-get install {}", names.join(" ")),
            Manager::Dnf => format!("dnf install {}", names.join(" ")),
        }
    }
}

/// The host's package manager, from `/etc/os-release`; `None` when it is neither family.
pub fn manager(facts: &Facts) -> Option<Manager> {
    let s = facts.system.known()?;
    let family = format!("{} {}", s.os_id, s.os_like);
    let has = |w: &str| family.split_whitespace().any(|f| f == w);
    if has("debian") || has("ubuntu") {
        Some(Manager::Apt)
    } else if ["rhel", "centos", "fedora", "rocky", "almalinux"]
        .iter()
        .any(|w| has(w))
    {
        Some(Manager::Dnf)
    } else {
        None
    }
}

/// What the host lacks, as package names for `m`, in install order. A fact that could not be
/// read asks for nothing.
pub fn needed(facts: &Facts, m: Manager, pythons: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: &str| {
        if !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    };
    let (apache, mod_wsgi) = match m {
        Manager::Apt => ("apache2", "libapache2-mod-wsgi-py3"),
        Manager::Dnf => ("httpd", "python3-mod_wsgi"),
    };
    match facts.apache.known() {
        Some(None) => {
            add(apache);
            add(mod_wsgi);
        }
        Some(Some(a)) if a.wsgi_so.is_none() && !a.modules.contains("wsgi_module") => add(mod_wsgi),
        _ => {}
    }
    if facts.system.known().is_some_and(|s| !s.acl) {
        add("acl");
    }
    // Debian ships ensurepip apart, per interpreter: python3-venv, python3.11-venv.
    if m == Manager::Apt {
        for p in pythons {
            let runs = matches!(
                facts.interpreters.get(*p).and_then(|f| f.known()),
                Some(Some(_))
            );
            let lacks = facts.interpreter_venv.get(*p).and_then(|f| f.known()) == Some(&false);
            if let Some(name) = p.strip_prefix("/usr/bin/")
                && runs
                && lacks
                && name.starts_with("python3")
            {
                add(&format!("{name}-venv"));
            }
        }
    }
    out
}

/// With `tls`, what the host lacks of mod_ssl (RHEL ships it apart) and, with ACME, certbot.
pub fn needed_for_tls(facts: &Facts, m: Manager, tls: bool, acme: bool) -> Vec<String> {
    let mut out = Vec::new();
    if tls
        && m == Manager::Dnf
        && facts
            .apache
            .known()
            .is_some_and(|a| a.as_ref().is_none_or(|a| !a.modules.contains("ssl_module")))
    {
        out.push("mod_ssl".to_string());
    }
    if acme && facts.system.known().is_some_and(|s| !s.certbot) {
        out.push("certbot".to_string());
    }
    out
}

pub fn plan(i: &Inputs<'_>) -> Option<Change> {
    // A rootless host installs nothing (preflight says what to ask the admin for).
    if i.desired.rootless.is_some() {
        return None;
    }
    let m = manager(i.facts)?;
    let pythons: Vec<&str> = i.desired.venvs.iter().map(|v| v.python.as_str()).collect();
    let mut names = needed(i.facts, m, &pythons);
    let certs = &i.desired.certificates;
    names.extend(needed_for_tls(
        i.facts,
        m,
        !certs.is_empty(),
        certs.iter().any(|c| c.acme.is_some()),
    ));
    if !i.desired.install_packages {
        return Some(noop(
            crate::resource_id::ResourceId::HostPackages,
            "not installed by wsgictl (`packages #false`)".into(),
        ));
    }
    if names.is_empty() {
        return Some(noop(
            crate::resource_id::ResourceId::HostPackages,
            if i.desired.certificates.iter().any(|c| c.acme.is_some()) {
                "Apache, mod_wsgi, venv support, acl and certbot are installed".into()
            } else {
                "Apache, mod_wsgi, venv support and acl are installed".into()
            },
        ));
    }
    Some(Change {
        id: crate::resource_id::ResourceId::HostPackages,
        action: Action::Create,
        reason: format!("install: {}", m.command(&names)),
        before: None,
        details: Vec::new(),
        diff: None,
        ops: vec![Op::InstallPackages { manager: m, names }],
    })
}
