//! Put a host in exactly the desired state by hand (plain file operations as root), so a test
//! can check that `plan` then finds nothing to do. Not apply: no lock, no atomicity, no pip.

use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;
use std::process::Command;
use wsgictl::pipeline::HostPlan;

pub fn place(hp: &HostPlan) {
    let d = &hp.desired;
    for dir in &d.dirs {
        std::fs::create_dir_all(&dir.path).unwrap();
        set(&dir.path, dir.mode, &dir.owner, &dir.group);
    }
    // One finished release per app, `current` pointing at it, the static link to its static.
    for r in &d.releases {
        let id = "20261130T165000-aa0100";
        let rel = Path::new(&r.dir).join(id);
        std::fs::create_dir_all(rel.join("src")).unwrap();
        std::fs::create_dir_all(rel.join("static")).unwrap();
        set(rel.join("src").to_str().unwrap(), 0o750, "root", &r.group);
        set(
            rel.join("static").to_str().unwrap(),
            0o755,
            &r.user,
            &r.group,
        );
        std::fs::write(rel.join(".wsgictl-release"), format!("id={id}\nprepared\n")).unwrap();
        let _ = std::fs::remove_file(&r.current);
        symlink(format!("releases/{id}"), &r.current).unwrap();
        let _ = std::fs::remove_file(&r.static_link);
        symlink(format!("{}/static", r.current), &r.static_link).unwrap();
    }
    for s in &d.sources {
        for f in wsgictl::source::scan(&s.local, &s.exclude).unwrap() {
            let dest = Path::new(&s.dest).join(&f.path);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(s.local.join(&f.path), &dest).unwrap();
            set(dest.to_str().unwrap(), f.mode, &s.owner, &s.group);
        }
    }
    for v in &d.venvs {
        super::run_ok(Command::new(&v.python).args(["-m", "venv", "--without-pip", &v.path]));
        std::fs::write(Path::new(&v.path).join(".wsgictl-venv"), "").unwrap();
        // What apply records after pip: the requirements' hash and site-packages' digest.
        let digest = super::run_ok(
            Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{}site_digest \"$1\"",
                    wsgictl::facts::script::SITE_DIGEST
                ))
                .args(["sh", &v.path]),
        );
        std::fs::write(
            Path::new(&v.path).join(".wsgictl-requirements"),
            format!(
                "{}\ninstalled={}",
                v.requirements_sha256,
                String::from_utf8_lossy(&digest.stdout)
            ),
        )
        .unwrap();
    }
    for f in &d.files {
        std::fs::create_dir_all(Path::new(&f.path).parent().unwrap()).unwrap();
        std::fs::write(&f.path, f.content.secret_text()).unwrap();
        set(&f.path, f.mode, &f.owner, &f.group);
    }
    for l in &d.links {
        let _ = std::fs::remove_file(&l.path);
        symlink(&l.target, &l.path).unwrap();
    }
}

fn set(path: &str, mode: u32, owner: &str, group: &str) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    super::run_ok(
        Command::new("chown")
            .arg(format!("{owner}:{group}"))
            .arg(path),
    );
}
