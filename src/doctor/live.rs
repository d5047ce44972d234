//! The doctor's live round trip: one script that requests each app through Apache and reads
//! what the host says about it, and the parse of its output (both pure).
//!
//! Stage: doctor. In order: Apache's config test; an HTTP request to each app from the host
//! itself (its server name as `Host`); the daemon processes (`display-name` makes them
//! `(wsgi:<app>)`) and their age; permissions as the Apache user and as each daemon user, one
//! path component at a time; each venv's Python and an import of the app's own `.wsgi` script
//! as the daemon user (the catalogue's `C-asuser-python`); and last, the new lines of each
//! app's error log and of the main error log since the offsets that apply recorded. Framed
//! like the gather script; logs travel as base64. Values are quoted by `crate::shell`.
//! [`record_offsets`] is the snippet apply runs after it reloads.

use crate::facts::frame::Frames;
use crate::manifest::{App, Layout, Manifest};
use crate::render::HostEnv;
use crate::shell::quote;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use std::collections::BTreeMap;

/// Seconds the doctor waits for an app's answer: a hung request is a finding, not a wait.
pub const HTTP_TIMEOUT: u32 = 20;

/// Lines of a log read at most, from the end of what is new.
const MAX_LOG_LINES: usize = 400;

fn q(s: &str) -> String {
    quote(s).expect("manifest values hold no NUL").into_owned()
}

/// What the live script needs to know about one app.
#[derive(Debug, Clone)]
pub struct AppProbe {
    pub name: String,
    pub server_name: String,
    pub port: u16,
    /// The path requested: the app's `health`, else `/`.
    pub path: String,
    pub user: String,
    pub root: String,
    pub src: String,
    pub venv: String,
    pub wsgi: String,
    pub static_dir: String,
    /// The daemon's `python-path` (`src`, then the overlay directory with `overlay`).
    pub python_path: String,
    /// The app is served over https (`tls`).
    pub tls: bool,
    pub request_timeout: u32,
    /// The server name and the aliases that are not wildcards: what Django must allow.
    pub names: Vec<String>,
    /// On a rootless host: the port of the host's web server in front (`front-port`).
    pub front_port: Option<u16>,
    /// On a rootless host: the address the account's Apache listens on for the app.
    pub listen: String,
}

impl AppProbe {
    pub fn of(app: &App) -> AppProbe {
        let root = app.root.trim_end_matches('/').to_string();
        AppProbe {
            name: app.name.value.clone(),
            server_name: app.server_name.value.clone(),
            port: *app.port,
            path: app.health.clone().unwrap_or_else(|| "/".into()),
            user: app.user.clone(),
            src: format!("{root}/current/src"),
            venv: app.venv.path.clone(),
            wsgi: format!("{root}/current/app.wsgi"),
            static_dir: app.django.static_files.dir.clone(),
            python_path: crate::render::python_path(&root, app.django.overlay),
            tls: app.tls.is_some(),
            request_timeout: app.daemon.request_timeout,
            front_port: None,
            listen: app.listen_address().to_string(),
            names: std::iter::once(app.server_name.value.clone())
                .chain(
                    app.aliases
                        .iter()
                        .filter(|a| !a.starts_with("*."))
                        .map(|a| a.value.clone()),
                )
                .collect(),
            root,
        }
    }

    /// Import from release directory `release` instead of `current` (before the switch).
    pub fn in_release(&mut self, release: &str, overlay: bool) {
        self.src = format!("{release}/src");
        self.wsgi = format!("{release}/app.wsgi");
        self.python_path = crate::render::release_python_path(release, &self.root, overlay);
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}{}", self.server_name, self.port, self.path)
    }

    /// curl's arguments that reach this app on the host itself: by name through
    /// `--resolve` (SNI picks the TLS vhost; the certificate is checked by preflight, not
    /// here), else with a `Host` header.
    pub fn curl_target(&self) -> String {
        curl_target(&self.server_name, self.port, &self.path, self.tls)
    }
}

/// Everything the live script is built from.
pub struct Inputs<'a> {
    pub env: &'a HostEnv,
    /// How to run Apache's control program (`APACHE_CONFDIR=… apache2ctl`).
    pub ctl: &'a str,
    pub apps: Vec<AppProbe>,
    /// Shell run last: record the logs' sizes ([`record_offsets`] for every app of the host),
    /// so that the next doctor shows only what happened after this one.
    pub record: String,
}

/// Sets shell variable `var` to one of this instance's paths: on Debian, `envvar` from its
/// `envvars` (else `debian`); on RHEL, the fixed `rhel` path.
fn apache_path(env: &HostEnv, var: &str, envvar: &str, debian: &str, rhel: &str) -> String {
    match env.layout {
        Layout::Debian => format!(
            "{var}=$(APACHE_CONFDIR={c}; export APACHE_CONFDIR; . {c}/envvars >/dev/null 2>&1; printf %s \"${{{envvar}:-{debian}}}\")\n",
            c = q(&env.confdir)
        ),
        Layout::Rhel => format!("{var}={}\n", q(rhel)),
    }
}

/// Sets `$logdir` to the directory of this Apache instance's logs.
fn logdir_snippet(env: &HostEnv) -> String {
    if let Some(r) = &env.rootless {
        return format!("logdir={}\n", q(&r.log_dir()));
    }
    apache_path(
        env,
        "logdir",
        "APACHE_LOG_DIR",
        "/var/log/apache2",
        &format!("{}/logs", env.confdir),
    )
}

/// Sets `$pidfile` to this Apache instance's pid file.
fn pidfile_snippet(env: &HostEnv) -> String {
    if let Some(r) = &env.rootless {
        return format!("pidfile={}\n", q(&r.pid_file()));
    }
    apache_path(
        env,
        "pidfile",
        "APACHE_PID_FILE",
        "/run/apache2/apache2.pid",
        "/run/httpd/httpd.pid",
    )
}

/// The error log of app `name`, relative to the log directory (as the vhost template names it).
pub fn app_log_name(layout: Layout, name: &str) -> String {
    match layout {
        Layout::Debian => format!("wsgictl-{name}-error.log"),
        Layout::Rhel => format!("wsgictl-{name}-error_log"),
    }
}

fn main_log_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Debian => "error.log",
        Layout::Rhel => "error_log",
    }
}

/// `<state dir>/log-offsets<instance>` (`/var/lib/wsgictl/log-offsets_etc_apache2`):
/// `path<TAB>size` lines.
pub fn offsets_path(env: &HostEnv) -> String {
    format!("{}/log-offsets{}", env.state_dir(), env.instance())
}

/// Shell that records the size of the main error log and of each app's error log, so that
/// `doctor` reads only what was logged since this apply.
pub fn record_offsets(env: &HostEnv, apps: &[&str]) -> String {
    let mut files = vec![q(main_log_name(env.layout))];
    files.extend(apps.iter().map(|a| q(&app_log_name(env.layout, a))));
    let offsets = q(&offsets_path(env));
    format!(
        "{logdir}mkdir -p {state} && for f in {files}; do printf '%s\\t%s\\n' \"$logdir/$f\" \"$(stat -c %s \"$logdir/$f\" 2>/dev/null || echo 0)\"; done > {offsets}.tmp && mv -f {offsets}.tmp {offsets}\n",
        logdir = logdir_snippet(env),
        state = q(&env.state_dir()),
        files = files.join(" "),
    )
}

/// curl's arguments for `path` of the vhost `name:port` on the host itself.
pub fn curl_target(name: &str, port: u16, path: &str, tls: bool) -> String {
    if tls {
        format!(
            "-k --resolve {} {}",
            q(&format!("{name}:{port}:127.0.0.1")),
            q(&format!("https://{name}:{port}{path}"))
        )
    } else {
        format!(
            "-H {} {}",
            q(&format!("Host: {name}")),
            q(&format!("http://127.0.0.1:{port}{path}"))
        )
    }
}

/// One section of the script, in the order it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Section {
    Configtest,
    Http(usize),
    Daemons,
    Access(usize),
    Python(usize),
    Log(Option<usize>),
    /// A rootless app: does a request to the host's front port reach the account's Apache?
    Front(usize),
    Record,
}

fn sections(apps: usize) -> Vec<Section> {
    let mut s = vec![Section::Configtest];
    s.extend((0..apps).map(Section::Http));
    s.push(Section::Daemons);
    for i in 0..apps {
        s.push(Section::Access(i));
        s.push(Section::Python(i));
    }
    s.extend((0..apps).map(|i| Section::Log(Some(i))));
    s.push(Section::Log(None));
    s.extend((0..apps).map(Section::Front));
    s.push(Section::Record);
    s
}

/// `walk ID USER TEST PATH`: the first component of PATH that USER cannot traverse (or, for
/// the last one, pass TEST on), with its mode and owner; `ok` when there is none.
const WALK: &str = r#"walk() {
  n=$1; u=$2; t=$3; p=$4; cur=; rest=${p#/}
  if ! can_be "$u"; then echo "$n skip"; return; fi
  ids_of "$u" || { echo "$n nouser"; return; }
  while [ -n "$rest" ]; do
    c=${rest%%/*}
    if [ "$c" = "$rest" ]; then rest=; else rest=${rest#*/}; fi
    cur=$cur/$c
    if [ -n "$rest" ]; then tt=-x; else tt=$t; fi
    if ! test_as "$u" "$tt" "$cur" 2>/dev/null; then
      echo "$n deny $(stat -c '%A:%U:%G' "$cur" 2>/dev/null || echo missing) $cur"; return
    fi
  done
  echo "$n ok"
}
"#;

/// The permission checks of one app: (user, test, path). Apache only needs to find the
/// `.wsgi` (daemon mode) and read the static files; the daemon user reads the script and the
/// code and runs the venv's Python.
fn checks(a: &AppProbe, apache_user: &str) -> Vec<(String, &'static str, String)> {
    vec![
        (apache_user.to_string(), "-e", a.wsgi.clone()),
        (apache_user.to_string(), "-r", a.static_dir.clone()),
        (a.user.clone(), "-r", a.wsgi.clone()),
        (a.user.clone(), "-r", a.src.clone()),
        (a.user.clone(), "-x", format!("{}/bin/python", a.venv)),
    ]
}

/// Run by the daemon user's venv Python: load the `.wsgi` exactly as mod_wsgi would, then
/// report the Django settings that are checked (never a secret), and which of the server
/// names (the arguments after the script) Django's own `validate_host` refuses.
const IMPORT_TEST: &str = r#"import json, runpy, sys
runpy.run_path(sys.argv[1])
from django.conf import settings as s
from django.http.request import validate_host
refused = [h for h in sys.argv[2:] if not validate_host(h, s.ALLOWED_HOSTS)]
print("django=" + json.dumps({"allowed_hosts": [str(h) for h in s.ALLOWED_HOSTS], "debug": bool(s.DEBUG), "static_root": str(s.STATIC_ROOT) if s.STATIC_ROOT else None, "refused": refused}))
"#;

/// Shell that imports app `a` as its daemon user (the catalogue's `C-asuser-python`): the
/// venv's Python, the daemon's working directory and module path, a clean environment (the
/// `.wsgi` reads the app's env file itself). Prints `django={…}` last when it works.
pub fn import_command(a: &AppProbe) -> String {
    let names: Vec<String> = a.names.iter().map(|n| q(n)).collect();
    format!(
        "cd {src} 2>/dev/null || cd /\n\
         as_user {u} env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME={src} PYTHONPATH={pp} timeout 120 {py} -c {code} {wsgi} {names} 2>&1 | tail -n 25\n",
        src = q(&a.src),
        pp = q(&a.python_path),
        u = q(&a.user),
        py = q(&format!("{}/bin/python", a.venv)),
        code = q(IMPORT_TEST),
        wsgi = q(&a.wsgi),
        names = names.join(" "),
    )
}

/// The whole script, framed with `nonce`.
pub fn build(i: &Inputs<'_>, apache_user: &str, nonce: &str) -> String {
    let mut s = String::from(
        "export LC_ALL=C\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n",
    );
    s.push_str(crate::facts::script::AS_USER);
    s.push_str(WALK);
    s.push_str(&logdir_snippet(i.env));
    s.push_str(&format!("offsets={}\n", q(&offsets_path(i.env))));
    for (n, sec) in sections(i.apps.len()).iter().enumerate() {
        s.push_str(&format!("echo 'WSGICTL {nonce} BEGIN {n}'\n(\n"));
        s.push_str(&section(i, apache_user, sec));
        s.push_str(&format!(") 2>&1\necho \"WSGICTL {nonce} END {n} $?\"\n"));
    }
    s
}

fn section(i: &Inputs<'_>, apache_user: &str, sec: &Section) -> String {
    match *sec {
        // On a syntax error, the line it names too (which directive, in which file).
        Section::Configtest => format!(
            "out=$({} -t 2>&1); st=$?\nprintf '%s\\n' \"$out\"\n\
             if [ $st != 0 ]; then\n\
             \x20 printf '%s\\n' \"$out\" | sed -n 's/.*Syntax error on line \\([0-9]*\\) of \\(.*\\):$/\\1 \\2/p' | head -n 1 | {{ read -r n f; [ -n \"$f\" ] && printf 'context: %s\\n' \"$(sed -n \"${{n}}p\" \"$f\")\"; }}\n\
             fi\nexit $st\n",
            i.ctl
        ),
        Section::Http(n) => {
            let a = &i.apps[n];
            format!(
                "command -v curl >/dev/null 2>&1 || {{ echo nocurl; exit 0; }}\n\
                 curl -s -o /dev/null -w 'http=%{{http_code}} %{{time_total}}\\n' --max-time {HTTP_TIMEOUT} {target}\n",
                target = a.curl_target(),
            )
        }
        // The requests' log lines can trail the responses a little. Only this instance's
        // daemons: children of its main process (the pid file says which).
        Section::Daemons => format!(
            "sleep 0.5\n{pidfile}main=$(cat \"$pidfile\" 2>/dev/null)\n\
             [ -n \"$main\" ] || exit 0\n\
             ps -eo pid=,ppid=,etimes=,args= | awk -v main=\"$main\" '$2 == main && $4 ~ /^\\(wsgi:/ {{ print $1, $3, $4 }}'\nexit 0\n",
            pidfile = pidfile_snippet(i.env)
        ),
        Section::Access(n) => checks(&i.apps[n], apache_user)
            .iter()
            .enumerate()
            .map(|(k, (u, t, p))| format!("walk {k} {} {t} {}\n", q(u), q(p)))
            .collect(),
        Section::Python(n) => {
            let a = &i.apps[n];
            format!(
                "py={py}\n\
                 if [ ! -e \"$py\" ]; then echo python=missing; exit 0; fi\n\
                 echo \"base=$(readlink -f \"$py\")\"\n\
                 can_be {u} || {{ echo python=skip; exit 0; }}\n\
                 id -u {u} >/dev/null 2>&1 || {{ echo python=nouser; exit 0; }}\n\
                 v=$(as_user {u} \"$py\" -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])' 2>&1 | tail -n 1)\n\
                 echo \"python=$v\"\n{import}",
                py = q(&format!("{}/bin/python", a.venv)),
                u = q(&a.user),
                import = import_command(a),
            )
        }
        Section::Log(app) => {
            let name = match app {
                Some(n) => app_log_name(i.env.layout, &i.apps[n].name),
                None => main_log_name(i.env.layout).to_string(),
            };
            format!(
                "f=\"$logdir\"/{name}\n\
                 [ -e \"$f\" ] || {{ echo since=missing; exit 0; }}\n\
                 off=$(awk -F '\\t' -v f=\"$f\" '$1 == f {{ print $2 }}' \"$offsets\" 2>/dev/null | tail -n 1)\n\
                 size=$(stat -c %s \"$f\")\n\
                 if [ -z \"$off\" ]; then echo since=start; off=0\n\
                 elif [ \"$size\" -lt \"$off\" ]; then echo since=rotated; off=0\n\
                 else echo since=apply; fi\n\
                 printf lines=; tail -c +$((off + 1)) \"$f\" | tail -n {MAX_LOG_LINES} | base64 -w 0; echo\n",
                name = q(&name),
            )
        }
        // A request marked with its own User-Agent: it reached the account's Apache when the
        // app's access log has it (whatever the front end answered).
        Section::Front(n) => {
            let a = &i.apps[n];
            let Some(front) = a.front_port else {
                return "echo front=none\n".into();
            };
            format!(
                "command -v curl >/dev/null 2>&1 || {{ echo front=nocurl; exit 0; }}\n\
                 ua=\"wsgictl-doctor-front-$$-$(date +%s%N)\"\n\
                 code=$(curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 -A \"$ua\" -H {host} {url})\n\
                 sleep 0.3\n\
                 if grep -qF \"$ua\" \"$logdir\"/{log} 2>/dev/null; then echo \"front=reached $code\"; else echo \"front=missed $code\"; fi\n",
                host = q(&format!("Host: {}", a.server_name)),
                url = q(&format!("http://127.0.0.1:{front}{}", a.path)),
                log = q(&format!("wsgictl-{}-access.log", a.name)),
            )
        }
        Section::Record => format!("{{ {}}} || true\n", i.record),
    }
}

/// One permission check: `user` needs `test` (`-x` to traverse, `-r`, `-e`) on the way to
/// `target`; `denied` is the first component that failed, with its `ls -l` mode and owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    pub user: String,
    pub test: String,
    pub target: String,
    pub outcome: AccessOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum AccessOutcome {
    Ok,
    Denied { path: String, stat: String },
    NoUser,
    Skipped { why: String },
}

/// Where a log's new lines start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Since {
    /// The offset apply recorded.
    Apply,
    /// No apply recorded an offset: the end of the log.
    Start,
    /// The log is shorter than the offset: it was rotated; all of it.
    Rotated,
    /// No such log.
    #[default]
    Missing,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LogTail {
    pub since: Since,
    pub lines: Vec<String>,
}

/// The settings the import test reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DjangoInfo {
    pub allowed_hosts: Vec<String>,
    pub debug: bool,
    pub static_root: Option<String>,
    /// Server names `validate_host` refuses with these ALLOWED_HOSTS.
    #[serde(default)]
    pub refused: Vec<String>,
}

/// A running daemon process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Daemon {
    pub group: String,
    pub pid: u32,
    pub seconds: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AppLive {
    /// HTTP status and seconds, or why there was none.
    pub http: Option<Result<(u16, f64), String>>,
    pub access: Vec<Access>,
    /// Where `venv/bin/python` resolves to; `None` when it is missing.
    pub base: Option<String>,
    /// The venv's version as the daemon user runs it, or what it printed instead.
    pub python: Option<Result<String, String>>,
    /// What the import test reported, or its output when it failed.
    pub django: Option<Result<DjangoInfo, String>>,
    pub log: LogTail,
    /// Rootless: whether a request to the front port reached the account's Apache, and
    /// the status the front end answered (`000`: nothing listens there).
    pub front: Option<(bool, String)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Live {
    /// Passed, and the output.
    pub configtest: Option<(bool, String)>,
    pub daemons: Vec<Daemon>,
    pub apps: BTreeMap<String, AppLive>,
    pub main_log: LogTail,
    /// Sections the output was cut off before.
    pub missing: Vec<String>,
}

impl Live {
    /// Replace every secret value in the log lines (which travel base64-encoded, so the
    /// script's text could not be scrubbed of them) with `<redacted>`.
    pub fn scrub(&mut self, values: &[String]) {
        let logs =
            std::iter::once(&mut self.main_log).chain(self.apps.values_mut().map(|a| &mut a.log));
        for log in logs {
            for l in &mut log.lines {
                *l = crate::render::scrub(l, values);
            }
        }
    }
}

/// Read the script's frames back.
pub fn parse(i: &Inputs<'_>, apache_user: &str, frames: &Frames) -> Live {
    let mut live = Live::default();
    for a in &i.apps {
        live.apps.insert(a.name.clone(), AppLive::default());
    }
    for (n, sec) in sections(i.apps.len()).iter().enumerate() {
        let Some(frame) = frames.frames.get(&n) else {
            live.missing.push(format!("{sec:?}"));
            continue;
        };
        let body = frame.body.as_str();
        let app = |k: usize| i.apps[k].name.clone();
        match *sec {
            Section::Configtest => {
                live.configtest = Some((frame.status == 0, body.trim_end().to_string()))
            }
            Section::Http(k) => {
                let r = parse_http(body);
                live.apps.get_mut(&app(k)).expect("app").http = Some(r);
            }
            Section::Daemons => live.daemons = body.lines().filter_map(parse_daemon).collect(),
            Section::Access(k) => {
                let checks = checks(&i.apps[k], apache_user);
                live.apps.get_mut(&app(k)).expect("app").access = body
                    .lines()
                    .filter_map(|l| parse_access(l, &checks))
                    .collect();
            }
            Section::Python(k) => {
                let a = live.apps.get_mut(&app(k)).expect("app");
                parse_python(body, a);
            }
            Section::Log(k) => {
                let tail = parse_log(body);
                match k {
                    Some(k) => live.apps.get_mut(&app(k)).expect("app").log = tail,
                    None => live.main_log = tail,
                }
            }
            Section::Front(k) => {
                let a = live.apps.get_mut(&app(k)).expect("app");
                a.front = body.lines().find_map(|l| {
                    let v = l.strip_prefix("front=")?;
                    let (what, code) = v.split_once(' ')?;
                    Some((what == "reached", code.to_string()))
                });
            }
            Section::Record => {}
        }
    }
    live
}

fn parse_http(body: &str) -> Result<(u16, f64), String> {
    if body.contains("nocurl") {
        return Err("curl is not installed on the host".into());
    }
    let line = body
        .lines()
        .find_map(|l| l.strip_prefix("http="))
        .ok_or_else(|| format!("no answer: {}", body.trim()))?;
    let mut it = line.split(' ');
    let code: u16 = it.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let secs: f64 = it.next().and_then(|c| c.parse().ok()).unwrap_or(0.0);
    if code == 0 {
        return Err(format!(
            "no HTTP answer (connection refused or timed out after {secs:.1} s)"
        ));
    }
    Ok((code, secs))
}

fn parse_daemon(line: &str) -> Option<Daemon> {
    let mut it = line.split_whitespace();
    let pid = it.next()?.parse().ok()?;
    let seconds = it.next()?.parse().ok()?;
    let group = it
        .next()?
        .strip_prefix("(wsgi:")?
        .trim_end_matches(')')
        .to_string();
    Some(Daemon {
        group,
        pid,
        seconds,
    })
}

fn parse_access(line: &str, checks: &[(String, &'static str, String)]) -> Option<Access> {
    let mut it = line.splitn(4, ' ');
    let (user, test, target) = checks.get(it.next()?.parse::<usize>().ok()?)?;
    let outcome = match it.next()? {
        "ok" => AccessOutcome::Ok,
        "nouser" => AccessOutcome::NoUser,
        "skip" => AccessOutcome::Skipped {
            why: "not root on the host".into(),
        },
        "deny" => AccessOutcome::Denied {
            stat: it.next()?.replace(':', " "),
            path: it.next()?.to_string(),
        },
        _ => return None,
    };
    Some(Access {
        user: user.clone(),
        test: test.to_string(),
        target: target.clone(),
        outcome,
    })
}

fn parse_python(body: &str, a: &mut AppLive) {
    let mut rest = Vec::new();
    for line in body.lines() {
        if let Some(b) = line.strip_prefix("base=") {
            a.base = Some(b.to_string());
        } else if let Some(v) = line.strip_prefix("python=") {
            a.python = match v {
                "missing" => Some(Err("missing".into())),
                "skip" | "nouser" => None,
                v if v.split('.').count() == 3
                    && v.split('.').all(|p| p.parse::<u32>().is_ok()) =>
                {
                    Some(Ok(v.to_string()))
                }
                v => Some(Err(v.to_string())),
            };
            if v == "missing" || v == "skip" || v == "nouser" {
                return;
            }
        } else if let Some(j) = line.strip_prefix("django=") {
            a.django =
                Some(serde_json::from_str(j).map_err(|e| format!("bad import-test output: {e}")));
        } else {
            rest.push(line);
        }
    }
    if a.django.is_none() && a.python.as_ref().is_some_and(Result::is_ok) {
        a.django = Some(Err(rest.join("\n")));
    }
}

fn parse_log(body: &str) -> LogTail {
    let mut tail = LogTail::default();
    for line in body.lines() {
        if let Some(s) = line.strip_prefix("since=") {
            tail.since = match s {
                "apply" => Since::Apply,
                "start" => Since::Start,
                "rotated" => Since::Rotated,
                _ => Since::Missing,
            };
        } else if let Some(b) = line.strip_prefix("lines=") {
            let bytes = STANDARD.decode(b.trim()).unwrap_or_default();
            tail.lines = String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect();
        }
    }
    tail
}

/// The probes of every app of `host` in `m` (or only `only`).
pub fn app_probes(m: &Manifest, host: &str, only: crate::render::Only<'_>) -> Vec<AppProbe> {
    let rootless = m.host(host).is_some_and(|h| h.rootless);
    m.apps_on(host)
        .filter(|a| crate::render::keeps(only, &a.name))
        .map(|a| AppProbe {
            front_port: rootless.then_some(a.front_port),
            ..AppProbe::of(a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_paths_come_from_envvars_on_debian() {
        let host = crate::manifest::Host {
            name: crate::manifest::Spanned {
                value: "h".into(),
                span: (0, 0).into(),
            },
            address: "h".into(),
            port: None,
            user: None,
            identity: None,
            known_hosts: None,
            sudo: false,
            packages: true,
            rootless: false,
            home: None,
            jump: None,
            watchdog: 5,
            apache: Default::default(),
        };
        let mut env = HostEnv::assumed(&host);
        env.confdir = "/etc/apache2-x".into();
        assert_eq!(
            logdir_snippet(&env),
            "logdir=$(APACHE_CONFDIR=/etc/apache2-x; export APACHE_CONFDIR; . /etc/apache2-x/envvars >/dev/null 2>&1; printf %s \"${APACHE_LOG_DIR:-/var/log/apache2}\")\n"
        );
        env.layout = Layout::Rhel;
        env.confdir = "/etc/httpd".into();
        assert_eq!(logdir_snippet(&env), "logdir=/etc/httpd/logs\n");
        assert_eq!(pidfile_snippet(&env), "pidfile=/run/httpd/httpd.pid\n");
    }

    #[test]
    fn access_lines_parse() {
        let checks = vec![
            (
                "www-data".to_string(),
                "-e",
                "/srv/a b/app.wsgi".to_string(),
            ),
            ("blog".to_string(), "-r", "/srv/a b/src".to_string()),
        ];
        assert_eq!(
            parse_access("0 deny drwx------:root:root /srv/a b", &checks),
            Some(Access {
                user: "www-data".into(),
                test: "-e".into(),
                target: "/srv/a b/app.wsgi".into(),
                outcome: AccessOutcome::Denied {
                    path: "/srv/a b".into(),
                    stat: "drwx------ root root".into()
                }
            })
        );
        assert_eq!(
            parse_access("1 ok", &checks).map(|a| a.outcome),
            Some(AccessOutcome::Ok)
        );
        assert_eq!(
            parse_access("1 nouser", &checks).map(|a| a.outcome),
            Some(AccessOutcome::NoUser)
        );
        assert_eq!(parse_access("7 ok", &checks), None);
    }

    #[test]
    fn http_and_daemon_lines_parse() {
        assert_eq!(parse_http("http=403 0.012\n"), Ok((403, 0.012)));
        assert!(parse_http("http=000 5.0\n").is_err());
        assert_eq!(
            parse_daemon(" 4242    35 (wsgi:app1)    -k start"),
            Some(Daemon {
                group: "app1".into(),
                pid: 4242,
                seconds: 35
            })
        );
        assert_eq!(parse_daemon("1 2 /usr/sbin/apache2 -k start"), None);
    }

    #[test]
    fn import_test_failure_keeps_its_output() {
        let mut a = AppLive::default();
        parse_python(
            "base=/usr/bin/python3.11\npython=3.11.2\nTraceback (most recent call last):\nSyntaxError: invalid syntax\n",
            &mut a,
        );
        assert_eq!(a.python, Some(Ok("3.11.2".into())));
        assert!(matches!(&a.django, Some(Err(t)) if t.ends_with("SyntaxError: invalid syntax")));
        let mut b = AppLive::default();
        parse_python(
            "python=3.11.2\ndjango={\"allowed_hosts\": [\"a\"], \"debug\": false, \"static_root\": \"/s\"}\n",
            &mut b,
        );
        assert_eq!(
            b.django,
            Some(Ok(DjangoInfo {
                allowed_hosts: vec!["a".into()],
                debug: false,
                static_root: Some("/s".into()),
                refused: Vec::new(),
            }))
        );
    }

    #[test]
    fn logs_decode_and_say_since_when() {
        let t = parse_log("since=apply\nlines=YQpiCg==\n");
        assert_eq!(t.since, Since::Apply);
        assert_eq!(t.lines, vec!["a", "b"]);
    }
}
