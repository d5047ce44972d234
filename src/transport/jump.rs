//! ProxyJump: the target's SSH session runs over a `direct-tcpip` channel of the jump host's.
//!
//! Stage: gather (I/O). libssh2 wants a file descriptor for its transport, so the channel is
//! bridged to one end of a Unix socket pair by a thread that owns the jump session (switched
//! to non-blocking mode: the thread is its only user); the target's session gets the other
//! end. Each hop's host key is verified and each hop authenticates, as a direct connection
//! would (`SshTransport::connect` for the jump host, then the usual handshake over the pair).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Bridge `channel` (a `direct-tcpip` channel of `jump` to `host:port`) and return the local
/// end of the bridge.
pub fn bridge(
    jump: ssh2::Session,
    channel: ssh2::Channel,
    host: &str,
    port: u16,
) -> anyhow::Result<UnixStream> {
    let (ours, theirs) = UnixStream::pair()?;
    theirs.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name(format!("jump {host}:{port}"))
        .spawn(move || pump(jump, channel, theirs))?;
    Ok(ours)
}

/// Copy bytes both ways until either side closes. Bytes read but not yet written wait in a
/// buffer (a write may take part of them, or none).
fn pump(jump: ssh2::Session, mut channel: ssh2::Channel, mut sock: UnixStream) {
    jump.set_blocking(false);
    let (mut to_channel, mut to_sock): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 32 * 1024];
    let mut sock_open = true;
    loop {
        let mut moved = false;
        if sock_open && to_channel.len() < 256 * 1024 {
            match sock.read(&mut buf) {
                Ok(0) => sock_open = false,
                Ok(n) => {
                    to_channel.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        if !to_channel.is_empty() {
            match channel.write(&to_channel) {
                Ok(n) => {
                    to_channel.drain(..n);
                    moved |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        } else if !sock_open {
            // The target's session is gone: close the channel and end.
            let _ = channel.send_eof();
            return;
        }
        if to_sock.len() < 256 * 1024 {
            match channel.read(&mut buf) {
                Ok(0) if channel.eof() => {
                    if to_sock.is_empty() {
                        return;
                    }
                }
                Ok(0) => {}
                Ok(n) => {
                    to_sock.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        if !to_sock.is_empty() {
            match sock.write(&to_sock) {
                Ok(n) => {
                    to_sock.drain(..n);
                    moved |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
