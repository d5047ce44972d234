//! The one pass over every app's Django settings check: the script (`settings.sh`, each
//! app's values as one tab-separated line of its argument, quoted by `crate::shell`) and
//! the parse of its output (pure).
//!
//! Stage: gather and apply. `script::build` emits one frame for all the [`Probe::Settings`]
//! probes, at the place of the first; apply's `CheckSettings` runs the same function for one
//! app, so both compute the same cache key. The programs started do not grow with the number
//! of apps (`settings.sh` says which); Python runs only for an app whose key changed.

use super::Probe;
use crate::settings_check::{Expect, PROGRAM};
use std::collections::BTreeMap;

const SCRIPT: &str = include_str!("settings.sh");

/// One app's values for the pass: its line, eight fields (`settings.sh` says which).
pub fn data(e: &Expect, user: &str, venv: &str, python_path: &str) -> String {
    let arg = serde_json::to_string(e).expect("plain data");
    let overlays = python_path
        .split(':')
        .skip(1)
        .map(|d| format!("{d}/{}.py", crate::render::OVERLAY_MODULE))
        .collect::<Vec<_>>()
        .join(":");
    let cache = crate::settings_check::cache_path(&e.src);
    [
        user,
        venv,
        &e.src,
        &e.env_file,
        &cache,
        python_path,
        &arg,
        &overlays,
    ]
    .join("\t")
        + "\n"
}

/// Whether the pass can be given `data`: one line of eight fields with no other control
/// character (the manifest refuses such values; one left out reads as an error).
fn usable(data: &str) -> bool {
    let Some(line) = data.strip_suffix('\n') else {
        return false;
    };
    line.split('\t').count() == 8 && !line.chars().any(|c| c.is_control() && c != '\t')
}

/// Every Settings probe of `probes`, in order: the app and its data.
pub fn wanted(probes: &[Probe]) -> Vec<(String, String)> {
    probes
        .iter()
        .filter_map(|p| match p {
            Probe::Settings { app, data } => Some((app.clone(), data.clone())),
            _ => None,
        })
        .collect()
}

/// The frame's body: the function, then its call with every usable app's data.
pub fn script<'a>(data: impl IntoIterator<Item = &'a str>) -> String {
    let q = |s: &str| crate::shell::quote(s).expect("no NUL").into_owned();
    let mut s = String::with_capacity(SCRIPT.len() + PROGRAM.len() + 1024);
    s.push_str(SCRIPT);
    let lines: String = data.into_iter().filter(|d| usable(d)).collect();
    s.push_str(&format!("gather_settings {} {}\n", q(PROGRAM), q(&lines)));
    s
}

/// Each app's `settings=` value (`skip`, `absent` or the report), in the order of `data`.
pub fn parse<'a>(
    body: &str,
    data: impl IntoIterator<Item = &'a str>,
) -> Vec<Result<String, String>> {
    let mut found: BTreeMap<usize, &str> = BTreeMap::new();
    for line in body.lines() {
        let mut f = line.splitn(3, '\t');
        if let (Some("S"), Some(i), Some(v)) = (f.next(), f.next(), f.next())
            && let Ok(i) = i.parse()
        {
            found.insert(i, v);
        }
    }
    let mut n = 0;
    data.into_iter()
        .map(|d| {
            if !usable(d) {
                return Err("its paths hold a control character".to_string());
            }
            let i = n;
            n += 1;
            found
                .get(&i)
                .map(|v| v.to_string())
                .ok_or_else(|| "not in the pass's output".to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_in_order_and_an_unusable_one_is_an_error() {
        let good = "u\t/v\t/s\t/e\t/c\t/s:/o\t{}\t/o/x.py\n";
        let bad = "u\t/v\t/s\tx\t/e\t/c\t/s\t{}\t\n";
        let body = "S\t1\tabsent\nnoise\nS\t0\t{\"a\": 1}\n";
        let got = parse(body, [good, bad, good]);
        assert_eq!(got[0].as_deref(), Ok("{\"a\": 1}"));
        assert!(got[1].as_ref().unwrap_err().contains("control character"));
        assert_eq!(got[2].as_deref(), Ok("absent"));
        let s = script([good, bad]);
        assert!(s.contains("\t/s:/o\t"), "{s}");
        assert!(!s.contains("/s\tx"), "an unusable app is not passed");
        // The call, run by `sh` against a stand-in that prints its data.
        let call = &s[s.rfind("gather_settings ").unwrap()..];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "gather_settings() {{ printf '%s' \"$2\"; }}\n{call}"
            ))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), good);
    }
}
