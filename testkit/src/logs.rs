//! Log capture: every line the pipelines write during a test binary.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Every log line the pipelines write during this test binary (JSON, as in
/// Lambda), for tests that prove what never reaches the logs.
pub fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        logs
    })
}

/// The captured log text so far.
pub fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().expect("logs lock")).into_owned()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
