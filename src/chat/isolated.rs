//! The daemon's chat templates render in helper processes (`worker-orcd chat-template-helper`, the
//! same executable), each with a cap on its address space, and every render has a deadline.
//! Fuel and the output cap bound what a template executes and prints, not what it holds: a string
//! doubled in a loop reaches gigabytes in 30 steps, and a `replace` over a 100 MB string costs one
//! step. Such a template now costs its helper (killed or aborted, then replaced), never the worker.
//!
//! Protocol, one JSON line each way: the parent sends a `Setup` and reads a `Reply` (the template
//! compiled or not), then a `Request` per render. A helper that dies or misses the deadline is
//! dropped; the next render starts a new one.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ChatMessage, ChatTemplate, TemplateTokens};

/// The hidden subcommand that runs `helper_main`.
pub const HELPER_SUBCOMMAND: &str = "chat-template-helper";

/// Memory a helper may map beyond what it maps at start: 64 times the largest rendered prompt
/// (1 MiB), far above any real template's need (256 messages of the longest content render in a
/// few MiB).
pub const HELPER_MEMORY_MIB: u64 = 256;

/// Longest a render may take. Real templates take milliseconds, even in a debug build.
pub const RENDER_DEADLINE: Duration = Duration::from_secs(5);

/// Helpers at most; renders beyond wait for one to be free.
pub const MAX_HELPERS: usize = 4;

#[derive(Serialize, Deserialize)]
struct Setup {
    source: String,
    tokens: TemplateTokens,
}

#[derive(Serialize, Deserialize)]
struct Request {
    messages: Vec<ChatMessage>,
    add_generation_prompt: bool,
}

#[derive(Serialize, Deserialize)]
enum Reply {
    Rendered(String),
    Refused(String),
}

pub struct IsolatedTemplate {
    exe: PathBuf,
    setup: String,
    pool: Mutex<Pool>,
    freed: Condvar,
}

struct Pool {
    idle: Vec<Helper>,
    /// Helpers lent out now.
    busy: usize,
}

struct Helper {
    child: Child,
    stdin: ChildStdin,
    /// Lines the helper writes, read by a thread of their own so a render can time out.
    lines: mpsc::Receiver<String>,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl IsolatedTemplate {
    /// Starts one helper with the template, so a helper that cannot run is a start-up error.
    pub fn start(exe: PathBuf, source: &str, tokens: &TemplateTokens) -> Result<IsolatedTemplate, String> {
        let setup = serde_json::to_string(&Setup { source: source.to_string(), tokens: tokens.clone() }).expect("plain data");
        let t = IsolatedTemplate { exe, setup, pool: Mutex::new(Pool { idle: Vec::new(), busy: 0 }), freed: Condvar::new() };
        let first = t.spawn()?;
        t.pool.lock().unwrap().idle.push(first);
        Ok(t)
    }

    /// The prompt for `messages` with the assistant's turn opened, as `ChatTemplate::render`
    /// gives it; the error is a sentence for the caller.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, String> {
        let mut helper = self.lend()?;
        let request = serde_json::to_string(&Request { messages: messages.to_vec(), add_generation_prompt: true }).expect("plain data");
        let result = exchange(&mut helper, &request);
        let mut pool = self.pool.lock().unwrap();
        pool.busy -= 1;
        match result {
            Ok(reply) => {
                pool.idle.push(helper);
                drop(pool);
                self.freed.notify_one();
                match reply {
                    Reply::Rendered(text) => Ok(text),
                    Reply::Refused(why) => Err(why),
                }
            }
            Err(why) => {
                drop(pool);
                self.freed.notify_one();
                drop(helper);
                Err(why)
            }
        }
    }

    /// An idle helper, a new one while fewer than MAX_HELPERS are lent, or the next one freed.
    fn lend(&self) -> Result<Helper, String> {
        let mut pool = self.pool.lock().unwrap();
        loop {
            if let Some(h) = pool.idle.pop() {
                pool.busy += 1;
                return Ok(h);
            }
            if pool.busy < MAX_HELPERS {
                pool.busy += 1;
                drop(pool);
                return self.spawn().inspect_err(|_| {
                    self.pool.lock().unwrap().busy -= 1;
                    self.freed.notify_one();
                });
            }
            pool = self.freed.wait(pool).unwrap();
        }
    }

    fn spawn(&self) -> Result<Helper, String> {
        let mut child = Command::new(&self.exe)
            .args([HELPER_SUBCOMMAND, "--memory-mib", &HELPER_MEMORY_MIB.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // An aborted helper prints why ("memory allocation of N bytes failed"); the refusal says it.
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the chat template helper ({}): {e}", self.exe.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("chat-template-helper".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the chat template helper's reader: {e}"))?;
        let mut helper = Helper { child, stdin, lines };
        match exchange(&mut helper, &self.setup)? {
            Reply::Rendered(_) => Ok(helper),
            Reply::Refused(why) => Err(format!("the chat template helper refused the template: {why}")),
        }
    }
}

/// One line to the helper and its reply within the deadline; a helper that misses it is killed.
fn exchange(helper: &mut Helper, line: &str) -> Result<Reply, String> {
    let sent = writeln!(helper.stdin, "{line}").and_then(|_| helper.stdin.flush());
    let reply = match helper.lines.recv_timeout(RENDER_DEADLINE) {
        Ok(reply) => reply,
        Err(RecvTimeoutError::Timeout) => {
            let _ = helper.child.kill();
            return Err(format!("rendering took more than {} s; the template works too long", RENDER_DEADLINE.as_secs()));
        }
        Err(RecvTimeoutError::Disconnected) => return Err(died(helper, sent.err())),
    };
    serde_json::from_str(&reply).map_err(|e| format!("the chat template helper answered nonsense ({e})"))
}

/// Why a helper stopped answering: an abort is a failed allocation (its address space is capped;
/// a panic inside the template engine is caught and refused).
fn died(helper: &mut Helper, write_error: Option<std::io::Error>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match helper.child.wait() {
        Ok(status) if status.signal() == Some(6) => {
            format!("rendering needed more than {HELPER_MEMORY_MIB} MiB of memory; the template grows a value without bound")
        }
        Ok(status) => format!("the chat template helper stopped ({status})"),
        Err(e) => format!("the chat template helper stopped ({}; {e})", write_error.map(|w| w.to_string()).unwrap_or_default()),
    }
}

/// The helper process: caps its address space, compiles the template of the first line, then
/// renders one request per line until stdin closes. Returns the exit code.
pub fn helper_main(memory_mib: u64) -> i32 {
    if let Err(e) = crate::ffi::address_space::limit_growth_to(memory_mib << 20) {
        eprintln!("chat-template-helper: cannot cap the address space: {e}");
        return 1;
    }
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut template: Option<ChatTemplate> = None;
    for line in stdin.lines() {
        let Ok(line) = line else { return 1 };
        let reply = match &template {
            None => {
                let Ok(setup) = serde_json::from_str::<Setup>(&line) else { return 1 };
                match ChatTemplate::new(&setup.source, setup.tokens) {
                    Ok(t) => {
                        template = Some(t);
                        Reply::Rendered(String::new())
                    }
                    Err(e) => Reply::Refused(e.to_string()),
                }
            }
            Some(t) => {
                let Ok(request) = serde_json::from_str::<Request>(&line) else { return 1 };
                match t.render(&request.messages, request.add_generation_prompt, &[]) {
                    Ok(text) => Reply::Rendered(text),
                    Err(e) => Reply::Refused(e.to_string()),
                }
            }
        };
        let encoded = serde_json::to_string(&reply).expect("plain data");
        if writeln!(stdout, "{encoded}").and_then(|_| stdout.flush()).is_err() {
            return 1;
        }
    }
    0
}
