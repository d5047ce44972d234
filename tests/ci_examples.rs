//! The CI examples (`examples/ci/`): each file is YAML, and every `wsgictl` command they run
//! parses with this wsgictl's own CLI (subcommand, flags and arguments), so that an example
//! cannot drift from the tool.

use crate::support::root;
use clap::Parser as _;

/// Every string of a YAML document, recursively.
fn strings(y: &yaml_rust2::Yaml, out: &mut Vec<String>) {
    match y {
        yaml_rust2::Yaml::String(s) => out.push(s.clone()),
        yaml_rust2::Yaml::Array(a) => a.iter().for_each(|v| strings(v, out)),
        yaml_rust2::Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// The arguments of each `wsgictl` command in shell text: where a simple command starts
/// (line start, after `;`, `&&`, `||`, `|`, or after variable assignments), up to the next
/// operator or redirection.
fn wsgictl_commands(text: &str) -> Vec<Vec<String>> {
    let re = regex::Regex::new(
        r"(?m)(?:^|[;&|]\s*)(?:\s*[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*\s*wsgictl\s+([^;&|>\n]*)",
    )
    .unwrap();
    re.captures_iter(text)
        .map(|c| shlex::split(c[1].trim()).expect("shell words"))
        .collect()
}

#[test]
fn the_ci_examples_are_yaml_and_run_commands_wsgictl_has() {
    let mut total = 0;
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let path = root().join("examples/ci").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let docs = yaml_rust2::YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
        assert_eq!(docs.len(), 1, "{name}");
        let mut all = Vec::new();
        strings(&docs[0], &mut all);
        let commands: Vec<Vec<String>> = all.iter().flat_map(|s| wsgictl_commands(s)).collect();
        let subcommands: Vec<&str> = commands.iter().map(|c| c[0].as_str()).collect();
        for wanted in ["check", "plan", "apply"] {
            assert!(
                subcommands.contains(&wanted),
                "{name}: no `wsgictl {wanted}`"
            );
        }
        // The pull request's plan and the main branch's apply of a saved plan.
        assert!(
            commands.iter().any(|c| c[0] == "plan"
                && c.iter().any(|a| a == "--detailed-exitcode")
                && c.iter().any(|a| a == "--out")),
            "{name}: {commands:?}"
        );
        assert!(
            commands
                .iter()
                .any(|c| c[0] == "apply" && c.iter().any(|a| a == "plan.json")),
            "{name}: {commands:?}"
        );
        for c in &commands {
            let argv = std::iter::once("wsgictl".to_string()).chain(c.iter().cloned());
            if let Err(e) = wsgictl::cli::Cli::try_parse_from(argv) {
                panic!("{name}: `wsgictl {}` does not parse:\n{e}", c.join(" "));
            }
        }
        total += commands.len();
        // The key and known hosts come from the CI's secrets, by the names wsgictl reads.
        assert!(
            text.contains("WSGICTL_SSH_KEY") && text.contains("WSGICTL_KNOWN_HOSTS"),
            "{name}"
        );
    }
    assert!(total >= 6, "{total}");
}

#[test]
fn a_command_that_does_not_exist_is_caught() {
    let c = wsgictl_commands("x=1; wsgictl plann -f site.kdl > plan.txt || true");
    assert_eq!(c, [vec!["plann", "-f", "site.kdl"]]);
    let argv = std::iter::once("wsgictl".to_string()).chain(c[0].iter().cloned());
    assert!(wsgictl::cli::Cli::try_parse_from(argv).is_err());
    // `cargo install … wsgictl` is not a wsgictl command.
    assert!(wsgictl_commands("cargo install --locked --git URL wsgictl").is_empty());
}
