//! The gather's Apache probe: `apache.sh` (a real file, shellcheck-clean), given the
//! manifest's configuration directory as its one argument. Its `key=value` lines are parsed
//! by `parse::apache`.

const SCRIPT: &str = include_str!("apache.sh");

/// The probe's text: `confdir` (empty: the layout's default) as `$1`, then the script.
pub fn script(confdir: Option<&str>) -> String {
    let q = crate::shell::quote(confdir.unwrap_or("")).expect("a manifest path holds no NUL");
    format!("set -- {q}\n{SCRIPT}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_directory_reaches_the_script_as_its_argument() {
        for dir in [Some("/etc/apache 2/'x' $HOME `id`"), None] {
            let s = super::script(dir);
            let set = s.lines().next().unwrap();
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("{set}\nprintf %s \"$1\"")])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), dir.unwrap_or(""));
        }
    }
}
