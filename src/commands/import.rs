//! `wsgictl import`: read a hand-configured host's Apache configuration (two round trips on
//! one connection, a third with `--fetch-source`), write one `app` block per Django site into
//! the manifest (or `--out FILE`), the secrets it found into 0600 files, each venv's
//! requirements, and the import report.
//!
//! Nothing is written on the host. Locally, nothing is overwritten that differs: a secret
//! file or a source directory already there with other content stops the import first.

use crate::cli::{Cli, ImportArgs};
use crate::exit::ExitStatus;
use crate::import::{remote, site, write};
use anyhow::{Context, bail};
use base64::Engine as _;
use std::path::{Path, PathBuf};

pub fn run(cli: &Cli, args: &ImportArgs) -> anyhow::Result<ExitStatus> {
    let manifest_path = cli.manifest();
    let m = crate::manifest::load(&manifest_path)?;
    let host = m.host(&args.host).ok_or_else(|| {
        anyhow::anyhow!(
            "no host `{}` in {}: add a `host \"{}\" {{ address \"…\" }}` block first",
            args.host,
            manifest_path.display(),
            args.host
        )
    })?;
    let out_path = args.out.clone().unwrap_or_else(|| manifest_path.clone());
    let out_dir = out_path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let reach = super::reach(&args.connect)?;
    let started = std::time::Instant::now();
    if host.rootless {
        anyhow::bail!(
            "host `{}` is rootless: import reads the system Apache's sites, which an account without root cannot take over; import from the host as root (a host block without `rootless`), then move the app blocks to the rootless host",
            args.host
        );
    }
    let mut transport = crate::pipeline::connect(host, &reach)?;

    // Round trip 1: Apache's own account of its configuration, and every file it reads.
    let nonce = crate::facts::nonce()?;
    let script = remote::gather_script(&nonce, host.apache.confdir.as_deref());
    let o = transport.run_script(&script, host.sudo)?;
    let apache =
        remote::parse_gather(&String::from_utf8_lossy(&o.output), &nonce).with_context(|| {
            format!(
                "reading the Apache configuration of {}",
                transport.describe()
            )
        })?;
    let (config, found) = crate::import::configuration(&apache);

    // Round trip 2: the .wsgi files, projects, venvs and document roots they point at.
    let asks = site::asks(&found);
    let nonce = crate::facts::nonce()?;
    let o = transport.run_script(&remote::read_script(&nonce, &asks), host.sudo)?;
    let read = remote::parse_read(&String::from_utf8_lossy(&o.output), &nonce);
    let mut imported = crate::import::apps(
        &apache,
        &config,
        &found,
        &read,
        site::Options {
            keep_as_is: args.keep_as_is,
        },
    );
    // A site the manifest already has (an earlier import, or written by hand) is left to it.
    imported.apps.retain(|a| {
        let known = m.apps_on(&args.host).find(|e| {
            e.server_name.eq_ignore_ascii_case(&a.server_name)
                && *e.port == a.port
                && e.mount == a.mount
        });
        if let Some(e) = known {
            imported.report.not_imported.push(site::Entry {
                text: format!(
                    "{}:{}{} is app `{}` of the manifest already: left as it is there",
                    a.server_name,
                    a.port,
                    if a.mount == "/" { "" } else { &a.mount },
                    *e.name
                ),
                at: None,
                scenario: None,
            });
        }
        known.is_none()
    });
    // Names the manifest already has stay theirs.
    let taken: Vec<String> = m.apps.iter().map(|a| a.name.value.clone()).collect();
    for k in 0..imported.apps.len() {
        let mut name = imported.apps[k].name.clone();
        let base = name.clone();
        let mut n = 2;
        while taken.contains(&name) || imported.apps[..k].iter().any(|a| a.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        imported.apps[k].name = name;
    }
    if imported.apps.is_empty() {
        print!("{}", write::report(&args.host, &imported, true));
        if !found.wsgi.is_empty() {
            eprintln!(
                "every WSGI site of {} is in {} already: nothing to import",
                transport.describe(),
                manifest_path.display()
            );
            return Ok(ExitStatus::Success);
        }
        bail!(
            "no WSGI application is mounted by the Apache configuration of {} ({} vhosts read)",
            transport.describe(),
            found.other.len()
        );
    }

    // Round trip 3 (asked for): each project's code.
    let sources: Vec<PathBuf> = imported
        .apps
        .iter()
        .map(|a| match &args.fetch_source {
            Some(dir) => dir.join(&a.name),
            None => out_dir.join("src").join(&a.name),
        })
        .collect();
    if args.fetch_source.is_some() {
        for dir in &sources {
            if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
                bail!(
                    "{} already exists and is not empty: import never overwrites local files; move it away or give another --fetch-source",
                    dir.display()
                );
            }
        }
        fetch(transport.as_mut(), host.sudo, &imported.apps, &sources)?;
    }

    // Local files: secrets (0600), requirements, the manifest, the report.
    let report_file = format!("import-{}.report", args.host);
    let mut blocks = String::new();
    for (app, src) in imported.apps.iter().zip(&sources) {
        let req_rel = format!("imported/{}/{}/requirements.txt", args.host, app.name);
        let req = out_dir.join(&req_rel);
        std::fs::create_dir_all(req.parent().unwrap())?;
        let mut text = format!(
            "# What {} held on host \"{}\" when `wsgictl import` read it.\n",
            app.venv, args.host
        );
        for p in &app.packages {
            text.push_str(p);
            text.push('\n');
        }
        write_new(&req, text.as_bytes(), 0o644)?;
        for (name, value) in &app.secrets {
            let dir = out_dir.join("secrets");
            std::fs::create_dir_all(&dir)?;
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
            write_new(
                &dir.join(format!("{}.{name}", app.name)),
                format!("{}\n", value.0).as_bytes(),
                0o600,
            )?;
        }
        let name = app.name.clone();
        let paths = write::Paths {
            source: relative(src, &out_dir),
            requirements: format!("./{req_rel}"),
            secret: Box::new(move |n| format!("./secrets/{name}.{n}")),
        };
        blocks.push('\n');
        blocks.push_str(&write::app_block(app, &args.host, &paths, &report_file));
    }
    let original = std::fs::read_to_string(&manifest_path)?;
    let mut text = original.clone();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&blocks);
    let tmp = out_path.with_extension("kdl.wsgictl-new");
    std::fs::write(&tmp, &text)?;
    std::fs::rename(&tmp, &out_path).with_context(|| format!("writing {}", out_path.display()))?;
    let report = write::report(&args.host, &imported, args.fetch_source.is_some());
    std::fs::write(out_dir.join(&report_file), &report)?;
    print!("{report}");
    let stats = transport.stats();
    eprintln!(
        "\nread {} in {} round trip{} on one connection ({:.1} s)",
        transport.describe(),
        stats.exec_channels,
        if stats.exec_channels == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "\nwrote {} app block{} to {}, the report to {}",
        imported.apps.len(),
        if imported.apps.len() == 1 { "" } else { "s" },
        out_path.display(),
        out_dir.join(&report_file).display()
    );
    match crate::manifest::load(&out_path) {
        Ok(_) => eprintln!(
            "{} loads: next, `wsgictl plan -f {}` shows exactly the changes the report lists",
            out_path.display(),
            out_path.display()
        ),
        Err(e) => eprintln!(
            "{} does not load yet (see \"Before the first apply\" in the report):\n{e:#}",
            out_path.display()
        ),
    }
    Ok(ExitStatus::Success)
}

/// `DIR` relative to the manifest's directory when it is below it (`./src/blog`).
fn relative(path: &Path, base: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match abs(path).strip_prefix(abs(base)) {
        Ok(rel) => format!("./{}", rel.display()),
        Err(_) => abs(path).display().to_string(),
    }
}

/// Write `bytes` to `path` with `mode`, unless a file with other content is there.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read(path) {
        if old == bytes {
            return Ok(());
        }
        bail!(
            "{} already exists with other content: import never overwrites local files; move it away and import again",
            path.display()
        );
    }
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// Each app's project as a tar through one exec, unpacked into its directory.
fn fetch(
    transport: &mut dyn crate::transport::Transport,
    sudo: bool,
    apps: &[site::App],
    into: &[PathBuf],
) -> anyhow::Result<()> {
    let nonce = crate::facts::nonce()?;
    let q = |s: &str| crate::shell::quote(s).expect("no NUL").into_owned();
    let mut script = String::new();
    for (k, app) in apps.iter().enumerate() {
        let mut excludes = vec![
            "--exclude=.git".to_string(),
            "--exclude=__pycache__".into(),
            "--exclude=*.pyc".into(),
        ];
        for e in &app.exclude {
            let pattern = match e.strip_suffix('/') {
                Some(dir) => format!("./{dir}"),
                None if !e.contains('*') => format!("./{e}"),
                None => e.clone(),
            };
            excludes.push(q(&format!("--exclude={pattern}")));
        }
        script.push_str(&format!(
            "printf 'WSGICTL %s BEGIN %s\\n' {n} {k}\n{{ tar -C {dir} {ex} -cf - . | base64; }} 2>/dev/null\nprintf 'WSGICTL %s END %s %s\\n' {n} {k} $?\n",
            n = q(&nonce),
            dir = q(&app.project),
            ex = excludes.join(" "),
        ));
    }
    transport.set_script_timeout(std::time::Duration::from_secs(600));
    let o = transport.run_script(&script, sudo)?;
    let frames = crate::facts::frame::split(&String::from_utf8_lossy(&o.output), &nonce);
    for (k, (app, dir)) in apps.iter().zip(into).enumerate() {
        let f = frames
            .frames
            .get(&k)
            .filter(|f| f.status == 0)
            .ok_or_else(|| {
                anyhow::anyhow!("could not read {} from the host (tar failed)", app.project)
            })?;
        let b64: String = f.body.chars().filter(|c| !c.is_whitespace()).collect();
        let tar = base64::engine::general_purpose::STANDARD.decode(b64)?;
        std::fs::create_dir_all(dir)?;
        let mut child = std::process::Command::new("tar")
            .arg("-x")
            .arg("--no-same-owner")
            .arg("-C")
            .arg(dir)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .context("running the local tar")?;
        {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(&tar)?;
        }
        if !child.wait()?.success() {
            bail!("unpacking {} into {} failed", app.project, dir.display());
        }
        eprintln!("fetched {} into {}", app.project, dir.display());
    }
    Ok(())
}
