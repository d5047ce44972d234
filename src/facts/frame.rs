//! Splitting the gather script's output into one frame per probe (pure).
//!
//! Stage: gather. A frame is the text between `WSGICTL <nonce> BEGIN <n>` and
//! `WSGICTL <nonce> END <n> <status>`. Output cut off mid-way leaves the probes after the last
//! complete frame without one; [`split`] says which probe was running when it stopped.

use std::collections::BTreeMap;

/// One probe's output and exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub body: String,
    pub status: i32,
}

/// What the output held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Frames {
    pub frames: BTreeMap<usize, Frame>,
    /// A probe that began but never ended: the output was cut off there.
    pub cut_at: Option<usize>,
    /// Text outside any frame (a login banner, a shell warning).
    pub stray: String,
    /// Processes the host started while the probes ran (`PIDS` line; see `script::build`).
    pub processes: Option<u32>,
}

pub fn split(output: &str, nonce: &str) -> Frames {
    let begin = format!("WSGICTL {nonce} BEGIN ");
    let end = format!("WSGICTL {nonce} END ");
    let pids = format!("WSGICTL {nonce} PIDS ");
    let mut out = Frames::default();
    let mut open: Option<(usize, String)> = None;
    for line in output.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if let Some(n) = bare.strip_prefix(&begin).and_then(|n| n.parse().ok()) {
            open = Some((n, String::new()));
        } else if let Some(rest) = bare.strip_prefix(&end) {
            let mut it = rest.split(' ');
            let n: Option<usize> = it.next().and_then(|n| n.parse().ok());
            let status: i32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
            if let (Some((open_n, body)), Some(n)) = (open.take(), n)
                && open_n == n
            {
                out.frames.insert(n, Frame { body, status });
            }
        } else if let Some(rest) = bare.strip_prefix(&pids)
            && open.is_none()
        {
            out.processes = processes(rest);
        } else if let Some((_, body)) = open.as_mut() {
            body.push_str(line);
        } else {
            out.stray.push_str(line);
        }
    }
    out.cut_at = open.map(|(n, _)| n);
    out
}

/// `BEFORE AFTER PID_MAX` → PIDs handed out in between (wrapped at PID_MAX; `read` is a
/// builtin and takes none). `None` when /proc could not be read.
fn processes(rest: &str) -> Option<u32> {
    let n: Vec<u64> = rest
        .split(' ')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [before, after, max] = n[..] else {
        return None;
    };
    let d = if after >= before {
        after - before
    } else {
        after + max.checked_sub(before)?
    };
    u32::try_from(d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_body_and_status() {
        let out = "banner\nWSGICTL ab BEGIN 0\nx=1\ny=2\nWSGICTL ab END 0 0\nWSGICTL ab BEGIN 1\nboom\nWSGICTL ab END 1 3\n";
        let f = split(out, "ab");
        assert_eq!(
            f.frames[&0],
            Frame {
                body: "x=1\ny=2\n".into(),
                status: 0
            }
        );
        assert_eq!(
            f.frames[&1],
            Frame {
                body: "boom\n".into(),
                status: 3
            }
        );
        assert_eq!(f.stray, "banner\n");
        assert_eq!(f.cut_at, None);
    }

    #[test]
    fn the_pids_line_counts_processes_across_a_wrap_and_is_none_without_proc() {
        let f = split(
            "WSGICTL n BEGIN 0\nWSGICTL n END 0 0\nWSGICTL n PIDS 100 142 4194304\n",
            "n",
        );
        assert_eq!(f.processes, Some(42));
        assert_eq!(f.stray, "");
        assert_eq!(
            split("WSGICTL n PIDS 4194300 5 4194304\n", "n").processes,
            Some(9)
        );
        assert_eq!(split("WSGICTL n PIDS   \n", "n").processes, None);
        // Inside a frame it is a probe's output, not the count.
        let f = split(
            "WSGICTL n BEGIN 0\nWSGICTL n PIDS 1 2 3\nWSGICTL n END 0 0\n",
            "n",
        );
        assert_eq!(
            (f.processes, f.frames[&0].body.as_str()),
            (None, "WSGICTL n PIDS 1 2 3\n")
        );
    }

    #[test]
    fn a_cut_off_run_names_the_last_probe() {
        let f = split(
            "WSGICTL n BEGIN 0\na\nWSGICTL n END 0 0\nWSGICTL n BEGIN 1\npartial",
            "n",
        );
        assert_eq!(f.frames.len(), 1);
        assert_eq!(f.cut_at, Some(1));
    }

    #[test]
    fn another_nonce_is_just_text() {
        let f = split(
            "WSGICTL n BEGIN 0\nWSGICTL other END 0 0\nWSGICTL n END 0 0\n",
            "n",
        );
        assert_eq!(f.frames[&0].body, "WSGICTL other END 0 0\n");
    }
}
