//! The SSH transport against a real sshd: host keys fail closed, auth says what it tried,
//! sudo that wants a password is an error, not a hang.

use crate::support::lab::{Lab, PW_USER, USER};
use wsgictl::transport::Transport as _;
use wsgictl::transport::ssh::{HostKeyError, SshOptions, SshTransport, Target};

fn target(lab: &Lab, user: &str) -> Target {
    Target {
        name: "lab".into(),
        address: "127.0.0.1".into(),
        port: lab.port,
        user: user.into(),
        identities: vec![],
        known_hosts: lab.known_hosts(),
        ssh_dir: lab.home().join(".ssh"),
    }
}

#[test]
fn runs_scripts_as_the_user_and_through_sudo() {
    let lab = Lab::start();
    let mut t = SshTransport::connect(target(&lab, USER), &SshOptions::default())
        .unwrap_or_else(|e| panic!("{e:#}\n{}", lab.sshd_log()));
    let out = t
        .run_script("id -un; echo to-stderr >&2; exit 3\n", false)
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.output),
        format!("{USER}\nto-stderr\n")
    );
    assert_eq!(out.status, 3);
    let out = t.run_script("id -un\n", true).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.output), "root\n");
    assert_eq!(t.stats().exec_channels, 2);
}

#[test]
fn sudo_that_wants_a_password_is_a_clear_error() {
    let lab = Lab::start();
    let mut t = SshTransport::connect(target(&lab, PW_USER), &SshOptions::default()).unwrap();
    let started = std::time::Instant::now();
    let err = format!("{:#}", t.run_script("id -un\n", true).unwrap_err());
    assert!(
        err.contains("sudo on lab (127.0.0.1:") && err.contains("wants a password for wsgictl-pw"),
        "{err}"
    );
    assert!(err.contains("NOPASSWD"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn an_unknown_host_key_is_refused_with_its_fingerprint() {
    let lab = Lab::start();
    std::fs::write(lab.known_hosts(), "").unwrap();
    let err = SshTransport::connect(target(&lab, USER), &SshOptions::default())
        .err()
        .unwrap();
    let typed = err.downcast_ref::<HostKeyError>();
    assert!(
        matches!(typed, Some(HostKeyError::Unknown { .. })),
        "{err:#}"
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("SHA256:") && msg.contains("--accept-new-host-key"),
        "{msg}"
    );
    // Nothing was logged in as anyone.
    assert!(
        !lab.sshd_log().contains("Accepted publickey"),
        "{}",
        lab.sshd_log()
    );

    // Accepting records it, and the next connection matches without the flag.
    let opts = SshOptions {
        accept_new_host_key: true,
        ..Default::default()
    };
    SshTransport::connect(target(&lab, USER), &opts).unwrap();
    assert_eq!(
        std::fs::read_to_string(lab.known_hosts()).unwrap(),
        lab.host_key_line()
    );
    SshTransport::connect(target(&lab, USER), &SshOptions::default()).unwrap();
}

#[test]
fn a_mismatched_host_key_is_refused_even_when_accepting_new_keys() {
    let lab = Lab::start();
    let other = std::fs::read_to_string(format!("{}.pub", lab.other_key().display())).unwrap();
    let mut f = other.split_whitespace();
    std::fs::write(
        lab.known_hosts(),
        format!(
            "[127.0.0.1]:{} {} {}\n",
            lab.port,
            f.next().unwrap(),
            f.next().unwrap()
        ),
    )
    .unwrap();
    let opts = SshOptions {
        accept_new_host_key: true,
        ..Default::default()
    };
    let err = SshTransport::connect(target(&lab, USER), &opts)
        .err()
        .unwrap();
    assert!(
        matches!(
            err.downcast_ref::<HostKeyError>(),
            Some(HostKeyError::Mismatch { .. })
        ),
        "{err:#}"
    );
    assert!(format!("{err:#}").contains("HOST KEY MISMATCH"));
    assert!(!lab.sshd_log().contains("Accepted publickey"));
}

#[test]
fn a_refused_key_lists_what_was_tried() {
    let lab = Lab::start();
    let mut t = target(&lab, USER);
    t.identities = vec![lab.other_key()];
    let err = format!(
        "{:#}",
        SshTransport::connect(t, &SshOptions::default())
            .err()
            .unwrap()
    );
    assert!(
        err.contains(&format!(
            "authenticating as {USER} on lab (127.0.0.1:{})",
            lab.port
        )),
        "{err}"
    );
    assert!(
        err.contains(&lab.other_key().display().to_string()),
        "{err}"
    );
}
