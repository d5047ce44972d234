//! A throwaway certificate authority for tests, made with the host's `openssl`: a root, and
//! leaf certificates for given names with given validity (expired ones included, through
//! `openssl ca -startdate/-enddate`, which `x509 -req` cannot do on OpenSSL 3.0).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Ca {
    dir: PathBuf,
    pub cert: PathBuf,
}

/// `openssl req` arguments for a new P-256 key, unencrypted.
const NEW_KEY: &[&str] = &[
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Ca {
    /// A new root in `dir` (which must exist).
    pub fn new(dir: &Path) -> Ca {
        std::fs::create_dir_all(dir.join("issued")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = test\n[test]\ndir = .\ndatabase = index.txt\nserial = serial\nnew_certs_dir = issued\n\
             certificate = ca.pem\nprivate_key = ca.key\ndefault_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\n\
             [any]\ncommonName = supplied\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                &["req", "-x509"],
                NEW_KEY,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "30",
                    "-subj",
                    "/CN=wsgictl test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        Ca {
            dir: dir.to_path_buf(),
            cert: dir.join("ca.pem"),
        }
    }

    /// A leaf for `names` (the first is the CN), valid from `start` to `end`
    /// (`YYYYMMDDHHMMSSZ`), with its key: (certificate, key).
    pub fn issue(&self, stem: &str, names: &[&str], start: &str, end: &str) -> (PathBuf, PathBuf) {
        let d = &self.dir;
        let key = format!("{stem}.key");
        let csr = format!("{stem}.csr");
        let cert = format!("{stem}.pem");
        let ext = format!("{stem}.ext");
        let sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        std::fs::write(
            d.join(&ext),
            format!(
                "subjectAltName = {}\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n",
                sans.join(",")
            ),
        )
        .unwrap();
        openssl(
            d,
            &[
                &["req", "-new"],
                NEW_KEY,
                &[
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &format!("/CN={}", names[0]),
                ],
            ]
            .concat(),
        );
        openssl(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-in",
                &csr,
                "-out",
                &cert,
                "-startdate",
                start,
                "-enddate",
                end,
                "-extfile",
                &ext,
                "-notext",
            ],
        );
        (d.join(cert), d.join(key))
    }

    /// A leaf valid from yesterday for `days`.
    pub fn issue_valid(&self, stem: &str, names: &[&str], days: i64) -> (PathBuf, PathBuf) {
        let fmt = |secs: i64| {
            let o = Command::new("date")
                .args(["-u", "-d", &format!("@{secs}"), "+%Y%m%d%H%M%SZ"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        self.issue(stem, names, &fmt(now - 86_400), &fmt(now + days * 86_400))
    }
}
