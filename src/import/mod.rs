//! `wsgictl import`: a hand-configured host's Apache configuration read into app blocks and
//! a report of what the first plan changes.
//!
//! Stage: import (pure, but for the scripts it builds). The order:
//! - [`remote`]: round trip 1 (`gather.sh`) asks Apache itself (`DUMP_INCLUDES`,
//!   `DUMP_RUN_CFG`, `-M`, `-S`, Debian's envvars) and brings every file it reads;
//! - [`lexer`] reads each file by Apache's rules, [`conditions`] evaluates `<IfModule>`,
//!   `<IfDefine>`, `Define` and `${NAME}` with the host's modules and Defines, [`tree`] splices
//!   the files together at their `Include` lines ([`configuration`]);
//! - [`vhosts`] finds each WSGI vhost and sorts its directives into modelled, dropped, kept;
//! - [`remote`]: round trip 2 (`read.sh`) reads the `.wsgi` files ([`wsgi`], Python's `ast`,
//!   never run), projects, venvs (their files, never run) and document roots they point at;
//! - [`site`] decides each app and its report ([`apps`]); [`write`] renders both.

pub mod conditions;
pub mod dump;
pub mod lexer;
pub mod remote;
pub mod site;
pub mod tree;
pub mod vhosts;
pub mod write;
pub mod wsgi;

/// The configuration as one tree and the vhosts in it.
pub fn configuration(apache: &remote::Apache) -> (tree::Config, vhosts::Found) {
    let mut env = conditions::Env {
        modules: apache.modules.clone(),
        defines: apache.run.defines.clone(),
    };
    if env.modules.is_empty() {
        // `-M` said nothing (an older httpd): mod_wsgi is loaded, or nothing would be found.
        env.modules.insert("wsgi_module".into());
    }
    let config = tree::build(&apache.includes, &apache.files, &env);
    let mut found = vhosts::find(&config.nodes);
    found.main = apache.includes.first().map(|i| i.file.clone());
    found.names = apache
        .vhosts
        .iter()
        .map(|v| {
            (
                tree::At {
                    file: v.file.clone(),
                    line: v.line,
                },
                v.name.clone(),
            )
        })
        .collect();
    (config, found)
}

/// The apps, with the configuration's own problems in the host's report.
pub fn apps(
    apache: &remote::Apache,
    config: &tree::Config,
    found: &vhosts::Found,
    read: &remote::Read,
    options: site::Options,
) -> site::Imported {
    let apache_user = apache.run.user.as_deref().unwrap_or("www-data");
    let mut imported = site::interpret(found, read, &apache.real, apache_user, options);
    for p in &config.problems {
        imported.report.todo.push(site::Entry {
            text: format!(
                "{}: {}",
                match p.severity {
                    lexer::Severity::Error => "error",
                    lexer::Severity::Warning => "warning",
                },
                p.message
            ),
            at: Some(p.at.clone()),
            scenario: None,
        });
    }
    imported
}
