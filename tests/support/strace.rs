//! Reading `strace -e trace=execve` logs: which programs were started.

use std::collections::HashMap;

/// The programs (their file names) that `log` shows started, in the log's order. With `-f`
/// into one file, an exec that another process interrupts is split over two lines, `PID
/// execve("…", … <unfinished ...>` and `PID <... execve resumed>) = 0`: it counts once, at
/// its resumption, when it succeeded.
pub fn execs(log: &str) -> Vec<String> {
    let program = |l: &str| {
        l.split('"')
            .nth(1)
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
    };
    let mut pending: HashMap<&str, String> = HashMap::new();
    let mut out = Vec::new();
    for l in log.lines() {
        let pid = l.split_whitespace().next().unwrap_or("");
        if l.contains("execve(\"") && l.ends_with("<unfinished ...>") {
            if let Some(p) = program(l) {
                pending.insert(pid, p);
            }
        } else if l.contains("<... execve resumed>") {
            if let Some(p) = pending.remove(pid)
                && l.ends_with("= 0")
            {
                out.push(p);
            }
        } else if l.contains("execve(\"") && l.ends_with("= 0") {
            out.extend(program(l));
        }
    }
    out
}

#[test]
fn an_exec_split_by_another_process_counts_once_and_a_failed_one_not_at_all() {
    let log = "\
1 execve(\"/usr/bin/sh\", [\"sh\", \"g.sh\"], 0x1 /* 3 vars */) = 0
2 execve(\"/usr/sbin/apache2\", [\"apache2\", \"-t\"], 0x1 /* 3 vars */ <unfinished ...>
3 execve(\"/usr/bin/awk\", [\"awk\", \"{}\"], 0x1 /* 3 vars */ <unfinished ...>
2 <... execve resumed>)             = 0
4 execve(\"/usr/local/bin/id\", [\"id\"], 0x1 /* 3 vars */) = -1 ENOENT (No such file or directory)
4 execve(\"/usr/bin/id\", [\"id\"], 0x1 /* 3 vars */) = 0
3 <... execve resumed>)             = 0
";
    assert_eq!(execs(log), ["sh", "apache2", "id", "awk"]);
}
