//! `wsgictl import` end to end, on the lab: four sites set up by hand the way people did
//! before wsgictl (no wsgictl file on the host), imported, checked, planned, applied; each
//! answers with the same body as before, the hand-written files are disabled and kept, and a
//! second plan has nothing to do. Django and Wagtail come from PyPI; two of the projects are
//! made by `django-admin startproject`, one by `wagtail start` (examples/production).

use crate::apply::all;
use crate::support::apache::ApacheInstance;
use crate::support::lab::Lab;
use crate::support::tls::Ca;
use crate::support::*;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Values that must end up only in the 0600 files import writes.
const WSGI_TOKEN: &str = "tok-7f3a-never-printed";
const SETENV_KEY: &str = "key with spaces 42 never printed";
const LEGACY3_SECRET: &str = "legacy3-secret-value-never-printed";

fn sh(cmd: &str) {
    run_ok(Command::new("sh").arg("-c").arg(cmd));
}

fn venv(dir: &Path, requirement: &str) {
    sh(&format!(
        "/usr/bin/python3 -m venv '{d}' && '{d}/bin/pip' install -q --disable-pip-version-check '{requirement}'",
        d = dir.display()
    ));
}

/// `django-admin startproject NAME` in `parent`, opened to every host name and left in DEBUG
/// (what the hand-made sites this imitates did), plus a view at /token/ that shows a hash of
/// the token the .wsgi puts in os.environ (never the token).
fn startproject(venv: &Path, parent: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(parent).unwrap();
    run_ok(
        Command::new(venv.join("bin/django-admin"))
            .args(["startproject", name])
            .current_dir(parent),
    );
    let project = parent.join(name);
    let settings = project.join(name).join("settings.py");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(
        &settings,
        text.replace("ALLOWED_HOSTS = []", "ALLOWED_HOSTS = ['*']")
            + "\nSTATIC_ROOT = BASE_DIR.parent / 'static'\n",
    )
    .unwrap();
    let urls = project.join(name).join("urls.py");
    let text = std::fs::read_to_string(&urls).unwrap();
    std::fs::write(
        &urls,
        text.replace(
            "from django.urls import path",
            "import hashlib, os\nfrom django.http import HttpResponse\nfrom django.urls import path",
        )
        .replace(
            "urlpatterns = [",
            &format!("def token(request):\n    t = os.environ.get('LEGACY_SECRET_TOKEN', '')\n    return HttpResponse(hashlib.sha256(t.encode()).hexdigest() + '\\n')\n\n\
             def home(request):\n    from django.conf import settings\n    return HttpResponse('{name} home, urls ' + settings.ROOT_URLCONF + ', script ' + request.META.get('SCRIPT_NAME', '') + '\\n')\n\n\
             urlpatterns = [\n    path('', home),\n    path('token/', token),"),
        ),
    )
    .unwrap();
    project
}

fn enable_module(apache: &ApacheInstance, name: &str) {
    let conf = apache.confdir();
    for ext in ["load", "conf"] {
        let src = conf.join(format!("mods-available/{name}.{ext}"));
        let link = conf.join(format!("mods-enabled/{name}.{ext}"));
        if src.exists() && !link.exists() {
            symlink(format!("../mods-available/{name}.{ext}"), link).unwrap();
        }
    }
}

/// GET `url` for `name` on `port` (https through --resolve, the CA trusted): status, body.
fn get(scheme: &str, name: &str, port: u16, path: &str, ca: &Path) -> (u16, String) {
    let o = Command::new("curl")
        .args(["-s", "--max-time", "20", "-w", "\n%{http_code}", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{name}:{port}:127.0.0.1"))
        .arg(format!("{scheme}://{name}:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    // The blog example names its process: the one line that differs between two daemons.
    let body: Vec<&str> = body.lines().filter(|l| !l.starts_with("pid: ")).collect();
    (code.trim().parse().unwrap_or(0), body.join("\n"))
}

struct Legacy {
    lab: Lab,
    apache: ApacheInstance,
    _dir: tempfile::TempDir,
    base: PathBuf,
    http: u16,
    https: u16,
    ca: PathBuf,
    /// The hand-written files, with their content.
    files: Vec<(PathBuf, String)>,
}

/// The four sites, running in one Apache instance.
fn legacy() -> Legacy {
    let lab = Lab::start();
    let apache = ApacheInstance::new();
    std::fs::create_dir_all("/srv/wsgictl-tests").unwrap();
    let dir = tempfile::Builder::new()
        .prefix("legacy")
        .tempdir_in("/srv/wsgictl-tests")
        .unwrap();
    let base = dir.path().to_path_buf();
    sh(&format!("chmod 0755 '{}'", base.display()));
    let (http, https) = (free_port(), free_port());
    let b = base.display().to_string();

    // Three venvs at once (pip shares its cache).
    let venvs: Vec<_> = [
        ("legacy1/venv", "Django>=4.2,<5.3"),
        ("legacy2/venv", "Django>=4.2,<5.3"),
        ("legacy3/venv", "Django>=4.2,<5.3"),
        ("legacy4/venv", "wagtail>=8.0,<8.1"),
    ]
    .into_iter()
    .map(|(d, r)| {
        let d = base.join(d);
        std::thread::spawn(move || venv(&d, r))
    })
    .collect();
    for v in venvs {
        v.join().unwrap();
    }

    // 1: daemon mode; the .wsgi adds the venv with site.addsitedir and sets os.environ;
    // python-path=…/site-packages, Order allow,deny, continuations, a SetEnv secret, a Header.
    let p1 = startproject(&base.join("legacy1/venv"), &base.join("legacy1"), "mysite");
    let wsgi1 = base.join("legacy1/apache/mysite.wsgi");
    std::fs::create_dir_all(wsgi1.parent().unwrap()).unwrap();
    let sp = |n: &str| {
        let lib = base.join(format!("{n}/venv/lib"));
        let py = std::fs::read_dir(&lib).unwrap().next().unwrap().unwrap();
        py.path().join("site-packages").display().to_string()
    };
    std::fs::write(
        &wsgi1,
        format!(
            "import os\nimport site\nimport sys\n\nsite.addsitedir('{sp}')\nsys.path.insert(0, '{p}')\n\
             os.environ['DJANGO_SETTINGS_MODULE'] = 'mysite.settings'\nos.environ['LEGACY_SECRET_TOKEN'] = '{WSGI_TOKEN}'\n\n\
             from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
            sp = sp("legacy1"),
            p = p1.display()
        ),
    )
    .unwrap();
    let site1 = format!(
        "<VirtualHost *:{http}>\n    ServerName legacy1.example.com\n    ServerAlias www.legacy1.example.com\n\n\
         \tWSGIDaemonProcess legacy1 user=www-data group=www-data \\\n        processes=2 threads=4 \\\n        python-path={p}:{sp}\n\
         \tWSGIProcessGroup legacy1\n    WSGIScriptAlias / {b}/legacy1/apache/mysite.wsgi\n\
         \x20   <Directory {b}/legacy1/apache>\n        <Files mysite.wsgi>\n            Order allow,deny\n            Allow from all\n            Require all granted\n        </Files>\n    </Directory>\n\
         \x20   SetEnv DJANGO_SETTINGS_MODULE mysite.settings\n    SetEnv LEGACY_API_KEY \"{SETENV_KEY}\"\n    SetEnv LEGACY_MODE blue\n\
         \x20   Header set X-Legacy \"one\"\n    <IfDefine MOD_WSGI_3>\n        WSGIReloadMechanism Process\n    </IfDefine>\n    ErrorLog ${{APACHE_LOG_DIR}}/legacy1-error.log\n</VirtualHost>\n",
        p = p1.display(),
        sp = sp("legacy1"),
    )
    // CRLF line endings, as an editor on another system left them.
    .replace('\n', "\r\n");

    // 2: embedded mode under /app, the server-wide WSGIPythonHome/WSGIPythonPath in the site
    // file, a DocumentRoot with its own page, collected static files.
    let p2 = startproject(&base.join("legacy2/venv"), &base.join("legacy2"), "portal");
    std::fs::create_dir_all(base.join("legacy2/www")).unwrap();
    std::fs::write(base.join("legacy2/www/index.html"), "legacy2 home\n").unwrap();
    std::fs::create_dir_all(base.join("legacy2/static")).unwrap();
    std::fs::write(
        base.join("legacy2/static/legacy.css"),
        "body { color: teal }\n",
    )
    .unwrap();
    let site2 = format!(
        "WSGIPythonHome {b}/legacy2/venv\nWSGIPythonPath {p}\n\n<VirtualHost *:{http}>\n  ServerName legacy2.example.com\n  DocumentRoot {b}/legacy2/www\n\
         \x20 <Directory {b}/legacy2/www>\n    Require all granted\n  </Directory>\n  WSGIScriptAlias /app {p}/portal/wsgi.py\n\
         \x20 <Directory {p}/portal>\n    <Files wsgi.py>\n      Require all granted\n    </Files>\n  </Directory>\n\
         \x20 Alias /static/ {b}/legacy2/static/\n  <Directory {b}/legacy2/static>\n    Require all granted\n  </Directory>\n</VirtualHost>",
        p = p2.display()
    );

    // 3: daemon mode on :80 and :443 with a certificate already there, the blog example's
    // code, a .wsgi that sets its environment, certbot's options-ssl-apache.conf.
    let p3 = base.join("legacy3/blog");
    sh(&format!(
        "cp -r '{}' '{}'",
        root().join("examples/single-app/blog").display(),
        p3.display()
    ));
    std::fs::create_dir_all(base.join("legacy3/wsgi")).unwrap();
    std::fs::write(
        base.join("legacy3/wsgi/blog.wsgi"),
        format!(
            "import os\nos.environ.setdefault('DJANGO_SECRET_KEY', '{LEGACY3_SECRET}')\nos.environ['BLOG_GREETING'] = 'hello legacy3'\n\
             os.environ['DJANGO_ALLOWED_HOSTS'] = 'legacy3.example.com'\nos.environ['DJANGO_STATIC_ROOT'] = '{b}/legacy3/static'\nfrom blog.wsgi import application\n"
        ),
    )
    .unwrap();
    let ca = Ca::new(&base.join("ca"));
    let (cert, key) = ca.issue_valid("legacy3", &["legacy3.example.com"], 90);
    std::fs::create_dir_all(base.join("letsencrypt")).unwrap();
    std::fs::write(
        base.join("letsencrypt/options-ssl-apache.conf"),
        "# certbot's file\nSSLEngine on\nSSLProtocol all -SSLv2 -SSLv3 -TLSv1 -TLSv1.1\nSSLHonorCipherOrder off\nSSLSessionTickets off\nSSLOptions +StrictRequire\n",
    )
    .unwrap();
    let site3 = format!(
        "Define LEGACY3 {b}/legacy3\nWSGIDaemonProcess legacy3 user=www-data python-home=${{LEGACY3}}/venv python-path=${{LEGACY3}}/blog processes=1 threads=8\n\n\
         <VirtualHost *:{http}>\n    ServerName legacy3.example.com\n    WSGIProcessGroup legacy3\n    WSGIScriptAlias / ${{LEGACY3}}/wsgi/blog.wsgi\n\
         \x20   <Directory ${{LEGACY3}}/wsgi>\n        Require all granted\n    </Directory>\n</VirtualHost>\n\n\
         <IfModule mod_ssl.c>\n<VirtualHost *:{https}>\n    ServerName legacy3.example.com\n    WSGIScriptAlias / ${{LEGACY3}}/wsgi/blog.wsgi process-group=legacy3 application-group=%{{GLOBAL}}\n\
         \x20   <Directory ${{LEGACY3}}/wsgi>\n        Require all granted\n    </Directory>\n    SSLCertificateFile \"{cert}\"\n    SSLCertificateKeyFile \"{key}\"\n\
         \x20   Include {b}/letsencrypt/options-ssl-apache.conf\n</VirtualHost>\n</IfModule>\n",
        cert = cert.display(),
        key = key.display(),
    );

    // 4: the unmodified Wagtail project of examples/production (`wagtail start`: a settings
    // package, STATIC_ROOT and MEDIA_ROOT inside the project, SQLite under BASE_DIR), deployed
    // by hand: migrated and collected as root, a local.py with the key, a .wsgi choosing the
    // production settings.
    let p4 = base.join("legacy4/mysite");
    sh(&format!(
        "cp -r '{}' '{}'",
        root().join("examples/production/mysite").display(),
        p4.display()
    ));
    std::fs::write(
        p4.join("mysite/settings/local.py"),
        "SECRET_KEY = 'legacy4-local-settings-key'\nALLOWED_HOSTS = ['legacy4.example.com']\n",
    )
    .unwrap();
    let py4 = base.join("legacy4/venv/bin/python");
    for cmd in ["migrate --noinput", "collectstatic --noinput"] {
        sh(&format!(
            "cd '{}' && DJANGO_SETTINGS_MODULE=mysite.settings.production '{}' manage.py {cmd} >/dev/null",
            p4.display(),
            py4.display()
        ));
    }
    sh(&format!(
        "mkdir -p '{p}/media' && chown -R www-data '{p}/media'",
        p = p4.display()
    ));
    std::fs::write(
        base.join("legacy4/wagtail.wsgi"),
        "import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'mysite.settings.production'\nfrom mysite.wsgi import application\n",
    )
    .unwrap();
    let site4 = format!(
        "<VirtualHost *:{http}>\n    ServerName legacy4.example.com\n    WSGIDaemonProcess wagtail user=www-data python-home={b}/legacy4/venv python-path={p} processes=2 threads=5\n\
         \x20   WSGIProcessGroup wagtail\n    WSGIScriptAlias / {b}/legacy4/wagtail.wsgi\n    <Directory {b}/legacy4>\n        <Files wagtail.wsgi>\n            Require all granted\n        </Files>\n    </Directory>\n\
         \x20   Alias /static/ {p}/static/\n    <Directory {p}/static>\n        Require all granted\n    </Directory>\n\
         \x20   Alias /media/ {p}/media/\n    <Directory {p}/media>\n        Require all granted\n    </Directory>\n</VirtualHost>\n",
        p = p4.display()
    );

    let conf = apache.confdir().to_path_buf();
    std::fs::write(
        conf.join("ports.conf"),
        format!("Listen {http}\n<IfModule ssl_module>\n\tListen {https}\n</IfModule>\n"),
    )
    .unwrap();
    for m in ["headers", "ssl", "socache_shmcb"] {
        enable_module(&apache, m);
    }
    let mut files = Vec::new();
    for (name, text) in [
        ("legacy1", site1),
        ("legacy2", site2),
        ("legacy3", site3),
        ("legacy4", site4),
    ] {
        let path = conf.join(format!("sites-available/{name}.conf"));
        std::fs::write(&path, &text).unwrap();
        symlink(
            format!("../sites-available/{name}.conf"),
            conf.join(format!("sites-enabled/{name}.conf")),
        )
        .unwrap();
        files.push((path, text));
    }
    apache.start();
    Legacy {
        lab,
        apache,
        _dir: dir,
        base,
        http,
        https,
        ca: ca.cert.clone(),
        files,
    }
}

/// `wsgictl import -f MANIFEST --host lab EXTRA…` on the lab.
fn import(l: &Legacy, manifest: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["import", "-f", manifest, "--host", "lab"];
    args.extend_from_slice(extra);
    l.lab.wsgictl(&args, &[])
}

/// What the four sites answer: (what, status, body).
fn answers(l: &Legacy) -> Vec<(String, u16, String)> {
    let ca = &l.ca;
    [
        ("http", "legacy1.example.com", l.http, "/"),
        ("http", "legacy1.example.com", l.http, "/token/"),
        ("http", "legacy2.example.com", l.http, "/app/"),
        ("http", "legacy2.example.com", l.http, "/"),
        ("http", "legacy2.example.com", l.http, "/static/legacy.css"),
        ("https", "legacy3.example.com", l.https, "/"),
        ("http", "legacy4.example.com", l.http, "/"),
        (
            "http",
            "legacy4.example.com",
            l.http,
            "/static/css/welcome_page.css",
        ),
    ]
    .into_iter()
    .map(|(s, n, p, path)| {
        let (code, body) = get(s, n, p, path, ca);
        (format!("{s}://{n}{path}"), code, body)
    })
    .collect()
}

#[test]
fn four_hand_made_sites_are_imported_planned_applied_and_answer_as_before() {
    let l = legacy();
    let before = answers(&l);
    for (what, code, body) in &before {
        assert_eq!(
            *code,
            200,
            "{what} before import: {body}\n{}",
            l.apache.error_log()
        );
    }
    assert_eq!(before[0].2, "mysite home, urls mysite.urls, script ");
    assert_eq!(before[2].2, "portal home, urls portal.urls, script /app");
    assert!(
        before[5].2.contains("greeting: hello legacy3"),
        "{}",
        before[5].2
    );
    assert!(
        before[6].2.contains("Welcome to your new Wagtail site"),
        "{}",
        before[6].2
    );

    let site = l.base.join("site.kdl");
    std::fs::write(
        &site,
        format!(
            "host \"lab\" {{\n    address \"127.0.0.1\"\n    port {}\n    user \"{}\"\n    sudo #true\n    apache {{\n        confdir \"{}\"\n    }}\n}}\n",
            l.lab.port,
            crate::support::lab::USER,
            l.apache.confdir().display()
        ),
    )
    .unwrap();
    let s = site.to_str().unwrap();
    let host_block = std::fs::read_to_string(&site).unwrap();
    // --keep-as-is, written elsewhere: SetEnv stays SetEnv (out of os.environ), an embedded
    // app keeps one process; the secrets still go to their files, never into the vhost.
    let kept = l.base.join("kept.kdl");
    let o = import(&l, s, &["--keep-as-is", "--out", kept.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(
        all(&o).contains(" in 2 round trips on one connection"),
        "{}",
        all(&o)
    );
    let kept_text = std::fs::read_to_string(&kept).unwrap();
    for v in [WSGI_TOKEN, SETENV_KEY, LEGACY3_SECRET] {
        assert!(
            !all(&o).contains(v) && !kept_text.contains(v),
            "a secret is printed or in the manifest"
        );
    }
    let legacy2 = &kept_text[kept_text.find("app \"legacy2\"").unwrap()..];
    assert!(
        legacy2.contains("daemon {\n        processes 1\n"),
        "{legacy2}"
    );
    assert!(kept_text.contains("SetEnv LEGACY_MODE blue"), "{kept_text}");
    assert_eq!(
        std::fs::read_to_string(&site).unwrap(),
        host_block,
        "--out must leave the manifest alone"
    );

    let fetched = l.base.join("fetched");
    let o = import(&l, s, &["--fetch-source", fetched.to_str().unwrap()]);
    let import_out = all(&o);
    assert_eq!(o.status.code(), Some(0), "{import_out}");
    // The code came in a third round trip, on the same connection.
    assert!(
        import_out.contains(" in 3 round trips on one connection"),
        "{import_out}"
    );
    let manifest = std::fs::read_to_string(&site).unwrap();
    let report = std::fs::read_to_string(l.base.join("import-lab.report")).unwrap();

    // The manifest: one block per site, each with where it came from.
    for (name, line) in [
        ("legacy1", "server-name \"legacy1.example.com\""),
        ("legacy2", "mount \"/app\""),
        ("legacy3", "http-port"),
    ] {
        assert!(manifest.contains(&format!("app \"{name}\"")), "{manifest}");
        assert!(manifest.contains(line), "{line}\n{manifest}");
    }
    let enabled1 = l.apache.confdir().join("sites-enabled/legacy1.conf");
    assert!(
        manifest
            .lines()
            .any(|line| line.starts_with("//   WSGIScriptAlias ")
                && line.ends_with(&format!("{}:9", enabled1.display()))),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!(
            "venv {{\n        path \"{}/legacy1/venv\"",
            l.base.display()
        )),
        "{manifest}"
    );
    assert!(
        manifest.contains("Header set X-Legacy \"one\""),
        "{manifest}"
    );
    assert!(manifest.contains("LEGACY_MODE \"blue\""), "{manifest}");
    assert!(
        manifest.contains(&format!("replaces \"{}\"", l.files[2].0.display())),
        "{manifest}"
    );
    // The report: each change with why.
    for needle in [
        "embedded mode (no daemon process group)",
        "[embedded-fallback-no-process-group]",
        "[apache22-access-syntax]",
        "[python-home-not-venv-root]",
        "`SetEnv DJANGO_SETTINGS_MODULE mysite.settings` never reaches os.environ",
        "certbot's options-ssl-apache.conf",
        "redirects it to https (301, with mod_rewrite",
        "`Header set X-Legacy \"one\"` → apache-raw",
    ] {
        assert!(report.contains(needle), "{needle}\n{report}");
    }
    // Secrets: in 0600 files only.
    for (file, value) in [
        ("legacy1.LEGACY_SECRET_TOKEN", WSGI_TOKEN),
        ("legacy1.LEGACY_API_KEY", SETENV_KEY),
        ("legacy3.DJANGO_SECRET_KEY", LEGACY3_SECRET),
    ] {
        let path = l.base.join("secrets").join(file);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{file}: {e}\n{manifest}"));
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{value}\n")
        );
    }
    let no_secret = |what: &str, text: &str| {
        for v in [WSGI_TOKEN, SETENV_KEY, LEGACY3_SECRET] {
            assert!(!text.contains(v), "a secret is in {what}:\n{text}");
        }
    };
    no_secret("import's output", &import_out);
    no_secret("the manifest", &manifest);
    no_secret("the report", &report);

    // What the report says to do first: legacy4's SQLite database goes into its `data`.
    let copy = report
        .lines()
        .find_map(|line| line.split_once("(the site's writes after that are not carried): "))
        .map(|(_, cmd)| cmd.to_string())
        .unwrap_or_else(|| panic!("no database to copy in the report:\n{report}"));
    assert!(
        copy.starts_with("install -D -o www-data -m 0600 ") && copy.contains("legacy4"),
        "{copy}"
    );
    sh(&copy);
    let legacy4 = &manifest[manifest.find("app \"wagtail\"").unwrap()..];
    for line in [
        "overlay #true",
        "data \"",
        "exclude \"static/\" \"media/\" \"db.sqlite3\"",
    ] {
        assert!(legacy4.contains(line), "{line}\n{legacy4}");
    }

    let o = l.lab.wsgictl(&["check", "-f", s], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));

    // The first plan: only what the report lists; the venvs are the sites' own, kept.
    let o = l
        .lab
        .wsgictl(&["plan", "-f", s, "--detailed-exitcode"], &[]);
    let plan = all(&o);
    assert_eq!(o.status.code(), Some(2), "{plan}");
    no_secret("the plan", &plan);
    for (path, _) in &l.files {
        assert!(
            plan.contains(&format!("- replaced:{}", path.display())),
            "{plan}"
        );
    }
    // Only what the report lists: every kind of change the plan makes is announced there.
    let announced = [
        ("dir:", "releases in"),
        ("release:", "deployed as releases"),
        ("source:", "deployed as releases"),
        ("switch:", "deployed as releases"),
        ("packages:", "install record"),
        ("wsgi-script:", "replaced by wsgictl's .wsgi"),
        ("env-file:", "environment file"),
        ("settings-overlay:", "`overlay #true`"),
        ("vhost:", "the vhost is wsgictl's from now on"),
        ("tls-vhost:", ".tls.conf"),
        ("host-conf:", "host-wide file"),
        ("replaced:", "is taken over (`replaces`)"),
        ("link:", "enabled"),
    ];
    for line in plan.lines() {
        let Some(rest) = line
            .strip_prefix("  + ")
            .or_else(|| line.strip_prefix("  ~ "))
            .or_else(|| line.strip_prefix("  - "))
        else {
            continue;
        };
        let (kind, needle) = announced
            .iter()
            .find(|(k, _)| rest.starts_with(k))
            .unwrap_or_else(|| {
                panic!("the plan changes what the report does not list: {line}\n{report}")
            });
        assert!(
            report.contains(needle),
            "{kind} ({line}) is not in the report:\n{report}"
        );
        if rest.contains("/htdocs ") {
            assert!(report.contains("empty document root"), "{report}");
        }
        if rest.contains("/data ") {
            assert!(report.contains("`data \""), "{report}");
        }
        if rest.contains("rewrite.load") {
            assert!(report.contains("mod_rewrite"), "{report}");
        }
    }
    for app in ["legacy1", "legacy2", "legacy3"] {
        assert!(
            !plan.contains(&format!("venv:{app} ")),
            "the venv of {app} is rebuilt:\n{plan}"
        );
    }

    let o = l.lab.wsgictl(&["apply", "-f", s, "--yes"], &[]);
    let applied = all(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{applied}\n{}",
        l.apache.error_log()
    );
    no_secret("apply's output", &applied);
    let after = answers(&l);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            b,
            a,
            "{} answers otherwise after import\n{}",
            b.0,
            l.apache.error_log()
        );
    }
    // The plain-HTTP side of legacy3 now redirects, as the report said.
    let (code, _) = get("http", "legacy3.example.com", l.http, "/", &l.ca);
    assert_eq!(code, 301);

    // The hand-written files are disabled and kept, root-only.
    for (path, text) in &l.files {
        let name = path.file_name().unwrap();
        assert!(!path.exists(), "{} is still there", path.display());
        assert!(!l.apache.confdir().join("sites-enabled").join(name).exists());
        let kept = PathBuf::from(format!("/var/lib/wsgictl/replaced{}", path.display()));
        assert_eq!(&std::fs::read_to_string(&kept).unwrap(), text);
        let dir = std::fs::metadata(kept.parent().unwrap()).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&dir.permissions()) & 0o777,
            0o700
        );
    }

    let o = l
        .lab
        .wsgictl(&["plan", "-f", s, "--detailed-exitcode"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));

    // Importing again finds the four sites in the manifest already, and changes nothing.
    let manifest = std::fs::read_to_string(&site).unwrap();
    let o = import(&l, s, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(all(&o).contains("nothing to import"), "{}", all(&o));
    assert_eq!(std::fs::read_to_string(&site).unwrap(), manifest);
}

/// Real-world shapes, purely: each folder of tests/fixtures/import/sites holds the files
/// Apache reads (`sites-enabled__x.conf` is /etc/apache2/sites-enabled/x.conf; without an
/// `apache2.conf`, one that includes them all) and, as `read.txt`, what the second round trip
/// answered. The app blocks and the report are snapshots.
#[test]
fn real_world_vhost_shapes_import_to_their_snapshot() {
    use wsgictl::import::{dump, remote, site, write};
    let cases = std::fs::read_dir(fixture("import/sites")).unwrap();
    let mut names: Vec<PathBuf> = cases.map(|e| e.unwrap().path()).collect();
    names.sort();
    assert!(names.len() >= 10);
    let mut modules =
        dump::modules(&std::fs::read_to_string(fixture("import/debian12-M.txt")).unwrap());
    // A host with certbot has mod_ssl (and mod_rewrite, mod_headers).
    for m in ["ssl_module", "rewrite_module", "headers_module"] {
        modules.insert(m.to_string());
    }
    for case in names {
        let name = case.file_name().unwrap().to_str().unwrap().to_string();
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&case)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .map(|p| {
                let f = p.file_name().unwrap().to_str().unwrap().replace("__", "/");
                (format!("/etc/apache2/{f}"), std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        let main = "/etc/apache2/apache2.conf".to_string();
        if !files.iter().any(|(f, _)| *f == main) {
            files.insert(
                0,
                (
                    main.clone(),
                    b"IncludeOptional sites-enabled/*.conf\n".to_vec(),
                ),
            );
        } else {
            let k = files.iter().position(|(f, _)| *f == main).unwrap();
            let m = files.remove(k);
            files.insert(0, m);
        }
        let include_line = String::from_utf8_lossy(&files[0].1)
            .lines()
            .position(|l| l.contains("Include"))
            .map_or(1, |k| k + 1);
        let mut apache = remote::Apache {
            modules: modules.clone(),
            ..Default::default()
        };
        apache.run.user = Some("www-data".into());
        for (k, (f, bytes)) in files.iter().enumerate() {
            apache.includes.push(dump::Include {
                file: f.clone(),
                depth: usize::from(k > 0),
                at_line: (k > 0).then_some(include_line),
            });
            apache.files.insert(f.clone(), bytes.clone());
        }
        if let Ok(text) = std::fs::read_to_string(case.join("S.txt")) {
            apache.vhosts = dump::vhosts(&text).0;
        }
        let read = std::fs::read_to_string(case.join("read.txt"))
            .map(|t| remote::parse_read(&t, "n"))
            .unwrap_or_default();
        let (config, found) = wsgictl::import::configuration(&apache);
        let imported =
            wsgictl::import::apps(&apache, &config, &found, &read, site::Options::default());
        let mut out = String::new();
        for app in &imported.apps {
            let n = app.name.clone();
            let paths = write::Paths {
                source: format!("./src/{n}"),
                requirements: format!("./imported/web1/{n}/requirements.txt"),
                secret: Box::new(move |s| format!("./secrets/{n}.{s}")),
            };
            out.push_str(&write::app_block(app, "web1", &paths, "import-web1.report"));
            out.push('\n');
            // Every block loads as KDL.
            let block = write::app_block(app, "web1", &paths, "r");
            block
                .parse::<kdl::KdlDocument>()
                .unwrap_or_else(|e| panic!("{name}: {e:?}\n{block}"));
        }
        out.push_str(&write::report("web1", &imported, true));
        for secret in ["hunter2", "pa55word"] {
            assert!(!out.contains(secret), "{name}: a secret is shown:\n{out}");
        }
        insta::assert_snapshot!(format!("import__{name}"), out);
    }
}

/// `replaces` on its own: the hand-written vhost (with its own `Listen`) answers until an
/// apply takes it over; a failed configtest puts it back, enabled, and it still answers; the
/// next good apply moves it to the root-only backup and wsgictl listens on the port instead.
#[test]
fn a_replaced_file_is_put_back_by_a_failed_configtest_and_taken_over_by_the_next_apply() {
    let site = crate::apply::Site::new(1, "");
    let conf = site.apache.confdir().to_path_buf();
    let old = conf.join("sites-available/old-app1.conf");
    std::fs::create_dir_all(site.base.join("oldroot")).unwrap();
    std::fs::write(site.base.join("oldroot/index.html"), "the old site\n").unwrap();
    let text = format!(
        "Listen {p}\n<VirtualHost *:{p}>\n    ServerName app1.example.com\n    DocumentRoot {b}/oldroot\n    <Directory {b}/oldroot>\n        Require all granted\n    </Directory>\n</VirtualHost>\n",
        p = site.port,
        b = site.base.display()
    );
    std::fs::write(&old, &text).unwrap();
    let link = conf.join("sites-enabled/old-app1.conf");
    symlink("../sites-available/old-app1.conf", &link).unwrap();
    site.apache.start();
    assert_eq!(site.get(1, "/"), (200, "the old site\n".to_string()));
    crate::apply::edit(
        &site.manifest,
        "    secret \"DJANGO_SECRET_KEY\"",
        &format!(
            "    replaces \"{}\"\n    secret \"DJANGO_SECRET_KEY\"",
            old.display()
        ),
    );

    site.break_vhost_template();
    let o = site.apply();
    assert_ne!(o.status.code(), Some(0), "{}", all(&o));
    assert!(all(&o).contains("NoSuchDirective"), "{}", all(&o));
    assert_eq!(std::fs::read_to_string(&old).unwrap(), text);
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        PathBuf::from("../sites-available/old-app1.conf")
    );
    assert_eq!(site.get(1, "/"), (200, "the old site\n".to_string()));

    // The template fixed: the takeover goes through, and wsgictl's file listens on the port.
    let t = std::fs::read_to_string(&site.manifest).unwrap();
    std::fs::write(&site.manifest, t.replace("templates \"./templates\"\n", "")).unwrap();
    let o = site.applied();
    assert!(
        all(&o).contains(&format!("- replaced:{}", old.display())),
        "{}",
        all(&o)
    );
    let (code, body) = site.get(1, "/");
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("blog: hello from Django"), "{body}");
    assert!(!old.exists() && std::fs::symlink_metadata(&link).is_err());
    let kept = PathBuf::from(format!("/var/lib/wsgictl/replaced{}", old.display()));
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), text);
    let host_conf = std::fs::read_to_string(conf.join("conf-available/wsgictl.conf")).unwrap();
    assert!(
        host_conf.contains(&format!("Listen {}", site.port)),
        "{host_conf}"
    );
    let o = site.wsgictl("plan", &["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
}

/// A configuration Apache itself refuses is not imported: the error is Apache's own, with
/// its file and line, and nothing is written locally.
#[test]
fn a_configuration_apache_refuses_is_not_imported() {
    let lab = Lab::start();
    let apache = ApacheInstance::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        apache.confdir().join("sites-enabled/broken.conf"),
        "<VirtualHost *:80>\n    ServerName broken.example.com\n    WSGIReloadMechanism Process\n</VirtualHost>\n",
    )
    .unwrap();
    let site = dir.path().join("site.kdl");
    let host = format!(
        "host \"lab\" {{\n    address \"127.0.0.1\"\n    port {}\n    user \"{}\"\n    sudo #true\n    apache {{\n        confdir \"{}\"\n    }}\n}}\n",
        lab.port,
        crate::support::lab::USER,
        apache.confdir().display()
    );
    std::fs::write(&site, &host).unwrap();
    let o = lab.wsgictl(
        &["import", "-f", site.to_str().unwrap(), "--host", "lab"],
        &[],
    );
    let out = all(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("Apache's own configuration test fails"),
        "{out}"
    );
    assert!(out.contains("broken.conf"), "{out}");
    assert!(
        out.contains("Invalid command 'WSGIReloadMechanism'"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&site).unwrap(), host);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
