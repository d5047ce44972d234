//! A hand-written `.wsgi` read with the host's Python (`ast`; the script is never run): the
//! `DJANGO_SETTINGS_MODULE` it assigns or `setdefault`s, the module path it builds
//! (`sys.path.insert`/`append`, `site.addsitedir`), an `activate_this.py` it execs, and where
//! `application` comes from. A value computed at run time is reported as dynamic with its
//! source, and with its value when it is made only of string constants, `__file__` and
//! `os.path` functions (evaluated without builtins: nothing that could act is ever run).
//!
//! Stage: import (builds the command; parses its JSON). [`PROGRAM`] travels in the gather.

use serde::Deserialize;

/// Run by the host's `python3` with the `.wsgi`'s path; prints `wsgi={json}`.
pub const PROGRAM: &str = include_str!("wsgi_reader.py");

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WsgiFile {
    /// The settings module, when known (a constant, or a computed value that evaluated).
    pub settings: Option<String>,
    /// `assigned` or `setdefault`.
    pub settings_how: Option<String>,
    /// Entries it puts on `sys.path`, in order (`None`: computed and not evaluated).
    pub sys_path: Vec<Option<String>>,
    pub site_dirs: Vec<Option<String>>,
    /// Lines that exec an `activate_this.py`.
    pub activate_this: Vec<usize>,
    /// `from X.wsgi import application`.
    pub application_from: Option<String>,
    pub dynamic: Vec<Dynamic>,
    /// It does not parse (`line N: …`) or cannot be read.
    pub error: Option<String>,
    /// Other `os.environ` entries it sets to a constant: name, value, line, how. The values
    /// may be secrets: never shown.
    #[serde(default)]
    pub env: Vec<(String, String, usize, String)>,
    /// Directories on its module path (or its own) that hold a `manage.py`.
    #[serde(default)]
    pub projects: Vec<String>,
    /// `application` built otherwise than by Django's handler (a wrapper, a function).
    #[serde(default)]
    pub application_built: Option<Built>,
}

/// Where and how the `.wsgi` builds `application` itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Built {
    pub line: usize,
    pub source: Option<String>,
}

/// A value computed at run time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Dynamic {
    pub what: String,
    pub line: usize,
    pub source: Option<String>,
    pub value: Option<String>,
}

/// Shell that reads the `.wsgi` at `path` with `python3`.
pub fn command(path: &str) -> String {
    let q = |s: &str| crate::shell::quote(s).expect("no NUL").into_owned();
    format!(
        "python3 -I -c {} {} </dev/null 2>&1 | grep '^wsgi=' | tail -n 1\n",
        q(PROGRAM),
        q(path)
    )
}

/// The `wsgi=` line's JSON.
pub fn parse(output: &str) -> Result<WsgiFile, String> {
    let json = output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("wsgi="))
        .ok_or_else(|| format!("the .wsgi reader printed no report: {}", output.trim()))?;
    // Not the JSON itself in the message: it may hold the values of secrets.
    serde_json::from_str(json).map_err(|e| format!("unreadable .wsgi report ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> WsgiFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site/app.wsgi");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command(path.to_str().unwrap()))
            .output()
            .unwrap();
        parse(&String::from_utf8_lossy(&out.stdout)).unwrap()
    }

    #[test]
    fn assigned_settings_and_literal_paths() {
        let w = read(
            "import os, sys, site\nsite.addsitedir('/srv/venv/lib/python3.11/site-packages')\nsys.path.insert(0, '/srv/blog')\nos.environ['DJANGO_SETTINGS_MODULE'] = 'blog.settings.prod'\nfrom blog.wsgi import application\n",
        );
        assert_eq!(w.settings.as_deref(), Some("blog.settings.prod"));
        assert_eq!(w.settings_how.as_deref(), Some("assigned"));
        assert_eq!(w.sys_path, vec![Some("/srv/blog".to_string())]);
        assert_eq!(
            w.site_dirs,
            vec![Some("/srv/venv/lib/python3.11/site-packages".to_string())]
        );
        assert_eq!(w.application_from.as_deref(), Some("blog.wsgi"));
        assert!(w.dynamic.is_empty() && w.error.is_none(), "{w:?}");
    }

    #[test]
    fn computed_paths_are_dynamic_with_their_value() {
        let w = read(
            "import os, sys\nsys.path.append(os.path.join(os.path.dirname(__file__), 'src'))\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\nactivate_this = '/srv/venv/bin/activate_this.py'\nexec(open(activate_this).read(), {'__file__': activate_this})\n",
        );
        assert_eq!(w.settings_how.as_deref(), Some("setdefault"));
        let d = &w.dynamic[0];
        assert_eq!(d.what, "sys.path");
        assert_eq!(d.line, 2);
        assert!(d.source.as_deref().unwrap().starts_with("os.path.join("));
        assert!(d.value.as_deref().unwrap().ends_with("/site/src"), "{d:?}");
        assert_eq!(w.sys_path, vec![d.value.clone()]);
        assert_eq!(w.activate_this, vec![4, 5]);
    }

    #[test]
    fn a_wrapped_application_and_other_environment_are_reported() {
        let w = read(
            "import os\nos.environ['API_TOKEN'] = 'tok'\nos.environ.setdefault('MODE', 'blue')\nfrom django.core.wsgi import get_wsgi_application\nfrom whitenoise import WhiteNoise\napplication = WhiteNoise(get_wsgi_application(), root='/srv/s')\n",
        );
        let b = w.application_built.as_ref().unwrap();
        assert_eq!(b.line, 6);
        assert!(b.source.as_deref().unwrap().starts_with("WhiteNoise("));
        assert_eq!(
            w.env,
            vec![
                ("API_TOKEN".into(), "tok".into(), 2, "assigned".into()),
                ("MODE".into(), "blue".into(), 3, "setdefault".into())
            ]
        );
        let plain = read(
            "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
        );
        assert_eq!(plain.application_built, None);
    }

    #[test]
    fn nothing_that_could_act_is_evaluated() {
        let marker = tempfile::tempdir().unwrap();
        let flag = marker.path().join("ran");
        let w = read(&format!(
            "import os, sys\nsys.path.insert(0, os.system('touch {}') or '/x')\n",
            flag.display()
        ));
        assert!(!flag.exists(), "an expression of the .wsgi was run");
        assert_eq!(w.sys_path, vec![None]);
        assert_eq!(w.dynamic[0].value, None);
    }

    #[test]
    fn a_file_that_does_not_parse_is_an_error_with_its_line() {
        let w = read("import os\nos.environ['X' = 1\n");
        assert!(w.error.as_deref().unwrap().starts_with("line 2"), "{w:?}");
        assert!(parse("no report").is_err());
    }
}
