//! A mock SMTP server for tests and the demo: plain SMTP (RFC 5321) on 127.0.0.1, written on
//! tokio in a page of code (the SMTP test-server crates either run their own thread pools
//! or bring TLS stacks and parsers we do not need).
//!
//! It speaks what a client sending one message needs: `EHLO`/`HELO`, `MAIL FROM`,
//! `RCPT TO`, `DATA` (dot-unstuffed, ended by `<CRLF>.<CRLF>`), `RSET`, `NOOP`, `QUIT`;
//! anything else is `502`. No TLS and no AUTH: the gateway's settings for it say `tls =
//! "none"` and no username. Every accepted message is recorded (envelope and raw data), and
//! a recipient can be made to get `451` (try later) or `550` (no such mailbox) at `RCPT TO`,
//! a number of times or for good.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::channels::settings::{SmtpSettings, SmtpTls};
use crate::push::mock::Recorder;

/// One message the mock accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA` (headers and body, CRLF line ends).
    pub data: String,
}

impl ReceivedMail {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut out: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = out.as_mut() {
                    v.push_str(line);
                }
                continue;
            }
            if out.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) {
                    out = Some(v.trim().to_owned());
                }
            }
        }
        out
    }

    /// The body, decoded when it is quoted-printable.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let qp = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if qp {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        }
    }

    /// The 6-digit code in a verification e-mail.
    pub fn verification_code(&self) -> Option<String> {
        self.body()
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_owned)
    }

    /// The acknowledge link in a page e-mail.
    pub fn ack_link(&self) -> Option<String> {
        self.body()
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains("/ack/"))
            .map(str::to_owned)
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let bytes = text.replace("=\r\n", "").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the mock answers a recipient instead of `250`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpFault {
    /// `451 4.3.0`: try again later.
    TryLater,
    /// `550 5.1.1`: no such mailbox.
    NoSuchMailbox,
}

struct State {
    received: Recorder<ReceivedMail>,
    /// Per recipient address: the fault and how many more times (`None`: for good).
    faults: Mutex<HashMap<String, (SmtpFault, Option<usize>)>>,
}

pub struct MockSmtp {
    port: u16,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl MockSmtp {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            received: Recorder::new(),
            faults: Mutex::new(HashMap::new()),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = session(tcp, &state).await;
                });
            }
        });
        Ok(Self { port, state, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Gateway settings that send through this mock.
    pub fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            enabled: true,
            host: "127.0.0.1".into(),
            port: self.port,
            tls: SmtpTls::None,
            from: "Panic Gateway <pages@gateway.test>".into(),
            timeout_ms: 2_000,
            ..SmtpSettings::default()
        }
    }

    /// Answer `fault` at `RCPT TO` for `address`, `times` times or for good.
    pub fn fail(&self, address: &str, fault: SmtpFault, times: Option<usize>) {
        self.state
            .faults
            .lock()
            .expect("lock")
            .insert(address.to_ascii_lowercase(), (fault, times));
    }

    /// Every accepted message so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.state.received.all()
    }

    /// Waits for `count` messages to `to`, or `within` to pass; returns those there are.
    pub async fn wait_mail(
        &self,
        to: &str,
        count: usize,
        within: std::time::Duration,
    ) -> Vec<ReceivedMail> {
        let to = to.to_ascii_lowercase();
        self.state
            .received
            .wait_for(count, within, move |m| {
                m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(&to))
            })
            .await
    }
}

impl Drop for MockSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl State {
    /// The fault for `address` now, counting it down.
    fn take_fault(&self, address: &str) -> Option<SmtpFault> {
        let mut faults = self.faults.lock().expect("lock");
        let key = address.to_ascii_lowercase();
        let (fault, times) = faults.get_mut(&key)?;
        let fault = *fault;
        if let Some(n) = times {
            *n -= 1;
            if *n == 0 {
                faults.remove(&key);
            }
        }
        Some(fault)
    }
}

/// The address inside `FROM:<a@b> SIZE=..` or `TO:<a@b>`.
fn path_of(arg: &str) -> Option<String> {
    let start = arg.find('<')?;
    let end = arg[start..].find('>')? + start;
    Some(arg[start + 1..end].to_owned())
}

async fn session(tcp: TcpStream, state: &State) -> std::io::Result<()> {
    let (read, mut write) = tcp.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 mock-smtp ESMTP ready\r\n").await?;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                "250-mock-smtp greets you\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
                    .into()
            }
            "HELO" => "250 mock-smtp\r\n".into(),
            "MAIL" => match path_of(arg) {
                Some(from) => {
                    mail_from = Some(from);
                    rcpt_to.clear();
                    "250 2.1.0 OK\r\n".into()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".into(),
            },
            "RCPT" => match (&mail_from, path_of(arg)) {
                (None, _) => "503 5.5.1 MAIL first\r\n".into(),
                (_, None) => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".into(),
                (Some(_), Some(to)) => match state.take_fault(&to) {
                    Some(SmtpFault::TryLater) => {
                        "451 4.3.0 Mailbox temporarily unavailable, try again later\r\n".into()
                    }
                    Some(SmtpFault::NoSuchMailbox) => {
                        format!("550 5.1.1 <{to}>: Recipient address rejected: no such user\r\n")
                    }
                    None => {
                        rcpt_to.push(to);
                        "250 2.1.5 OK\r\n".into()
                    }
                },
            },
            "DATA" if rcpt_to.is_empty() => "554 5.5.1 No valid recipients\r\n".into(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Dot-stuffing (RFC 5321 4.5.2).
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                state.received.push(ReceivedMail {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                "250 2.0.0 OK queued\r\n".into()
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 OK\r\n".into()
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_unfold_and_quoted_printable_decodes() {
        let mail = ReceivedMail {
            mail_from: "a@b".into(),
            rcpt_to: vec!["c@d".into()],
            data: "Subject: one\r\n two\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nA =\r\nlong line =E2=80=94 done\r\n".into(),
        };
        assert_eq!(mail.header("subject").as_deref(), Some("one two"));
        assert_eq!(mail.body(), "A long line \u{2014} done\r\n");
        assert_eq!(path_of("FROM:<x@y.z> SIZE=10").as_deref(), Some("x@y.z"));
    }
}
