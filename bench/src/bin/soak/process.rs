//! A process the soak keeps running and kills at will (`SIGKILL`, as an
//! out-of-memory kill or a lost host would), restarting it afterwards; one
//! that dies on its own is restarted too, and counted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What runs beside a process and goes with it (the relay's Runtime API).
pub type Companion = Option<JoinHandle<()>>;

/// Starts one instance of the process.
pub type Spawn = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = std::io::Result<(Child, Companion)>> + Send>>
        + Send
        + Sync,
>;

enum Command {
    /// `SIGKILL` now, start again after the pause.
    Kill(Duration),
    /// `SIGKILL` and do not start again.
    Stop,
}

/// A supervised process.
pub struct Supervised {
    commands: mpsc::UnboundedSender<Command>,
    /// Kills the soak made.
    pub kills: Arc<AtomicUsize>,
    /// Exits nobody asked for (each restarted).
    pub crashes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Supervised {
    /// Starts the process and keeps it running.
    pub fn start(name: &'static str, spawn: Spawn) -> Supervised {
        let (commands, mut inbox) = mpsc::unbounded_channel();
        let kills = Arc::new(AtomicUsize::new(0));
        let crashes = Arc::new(AtomicUsize::new(0));
        let (kill_count, crash_count) = (kills.clone(), crashes.clone());
        let task = tokio::spawn(async move {
            loop {
                let (mut child, companion) = match spawn().await {
                    Ok(started) => started,
                    Err(e) => {
                        eprintln!("soak: starting {name}: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let pause = tokio::select! {
                    status = child.wait() => {
                        crash_count.fetch_add(1, Ordering::SeqCst);
                        eprintln!("soak: {name} exited on its own ({status:?}); restarting");
                        Some(Duration::from_millis(500))
                    }
                    command = inbox.recv() => {
                        let _ = child.kill().await;
                        match command {
                            Some(Command::Kill(pause)) => {
                                kill_count.fetch_add(1, Ordering::SeqCst);
                                Some(pause)
                            }
                            Some(Command::Stop) | None => None,
                        }
                    }
                };
                if let Some(companion) = companion {
                    companion.abort();
                }
                match pause {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => return,
                }
            }
        });
        Supervised {
            commands,
            kills,
            crashes,
            task,
        }
    }

    /// Kills the process now; it starts again after `pause`.
    pub fn kill(&self, pause: Duration) {
        let _ = self.commands.send(Command::Kill(pause));
    }

    /// Kills the process for good.
    pub async fn stop(self) {
        let _ = self.commands.send(Command::Stop);
        let _ = self.task.await;
    }
}
