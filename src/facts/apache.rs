//! The gather's Apache probe: `apache.sh` (a real file, shellcheck-clean), given the
//! manifest's configuration directory as its one argument. Its `key=value` lines are parsed
//! by `parse::apache`.

const SCRIPT: &str = include_str!("apache.sh");

/// The file in the state directory that keeps Apache's answer for `confdir` (`apache.sh`),
/// one per configuration directory: `apache-` and 16 hex digits of the directory's sha256.
pub fn cache(state_dir: &str, confdir: Option<&str>) -> String {
    let hex = crate::source::sha256_hex(confdir.unwrap_or("").as_bytes());
    format!("{state_dir}/apache-{}", &hex[..16])
}

/// The probe's text: `confdir` (empty: the layout's default) as `$1`, the answer's `cache`
/// (empty: none) as `$2`, then the script.
pub fn script(confdir: Option<&str>, cache: Option<&str>) -> String {
    let q = |s: Option<&str>| {
        crate::shell::quote(s.unwrap_or(""))
            .expect("a manifest path holds no NUL")
            .into_owned()
    };
    format!("set -- {} {}\n{SCRIPT}", q(confdir), q(cache))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_directory_reaches_the_script_as_its_argument() {
        for dir in [Some("/etc/apache 2/'x' $HOME `id`"), None] {
            let cache = dir.map(|d| super::cache("/var/lib/wsgictl", Some(d)));
            let s = super::script(dir, cache.as_deref());
            let set = s.lines().next().unwrap();
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("{set}\nprintf '%s|%s' \"$1\" \"$2\"")])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("{}|{}", dir.unwrap_or(""), cache.as_deref().unwrap_or(""))
            );
        }
    }

    #[test]
    fn each_configuration_directory_has_a_cache_of_its_own() {
        let a = super::cache("/var/lib/wsgictl", None);
        assert!(
            a.starts_with("/var/lib/wsgictl/apache-") && a.len() == 24 + 16,
            "{a}"
        );
        assert_eq!(a, super::cache("/var/lib/wsgictl", Some("")));
        assert_ne!(
            a,
            super::cache("/var/lib/wsgictl", Some("/etc/apache2-web"))
        );
    }
}
