//! What `/proc` tells of a process: peak RSS and CPU time.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::stats::*;

pub fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU the process has used so far.
pub struct CpuSample {
    /// User and system time from `/proc/<pid>/stat`: in clock ticks of
    /// 10 ms, too coarse for a few hundred cheap invocations on their own.
    user: Duration,
    system: Duration,
    /// On-CPU time of its threads (`/proc/<pid>/task/*/schedstat`, in ns).
    on_cpu: Duration,
    /// Its threads: one that exits between two samples takes its share of
    /// `on_cpu` with it.
    threads: BTreeSet<String>,
}

pub fn cpu_sample(pid: u32) -> Option<CpuSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    let (mut on_cpu, mut threads) = (0_u64, BTreeSet::new());
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        on_cpu += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
        threads.insert(task.file_name().to_string_lossy().into_owned());
    }
    // The kernel's USER_HZ is 100 on Linux.
    Some(CpuSample {
        user: Duration::from_millis(user * 10),
        system: Duration::from_millis(system * 10),
        on_cpu: Duration::from_nanos(on_cpu),
        threads,
    })
}

impl CpuSample {
    /// The on-CPU time of its live threads so far (ms).
    pub fn on_cpu_ms(&self) -> f64 {
        ms(self.on_cpu)
    }
}

/// The CPU a process used over a span: the difference of two samples, or
/// the sum of several such differences (the blocks of a paired run).
#[derive(Clone, Copy, Default)]
pub struct CpuUse {
    user: Duration,
    system: Duration,
    on_cpu: Duration,
    /// A thread exited between two samples: `on_cpu` lost its share, so
    /// the ticks are the measure.
    thread_exited: bool,
    threads: usize,
}

impl CpuUse {
    /// What the process used from `before` to `after`.
    pub fn between(before: &CpuSample, after: &CpuSample) -> CpuUse {
        CpuUse {
            user: after.user.saturating_sub(before.user),
            system: after.system.saturating_sub(before.system),
            on_cpu: after.on_cpu.saturating_sub(before.on_cpu),
            thread_exited: !before.threads.is_subset(&after.threads),
            threads: after.threads.len(),
        }
    }

    /// The total (ms): the threads' on-CPU time, or the ticks when a thread exited.
    pub fn total_ms(&self) -> f64 {
        if self.thread_exited {
            ms(self.user + self.system)
        } else {
            ms(self.on_cpu)
        }
    }

    /// Both spans' use together.
    pub fn add(&mut self, other: &CpuUse) {
        self.user += other.user;
        self.system += other.system;
        self.on_cpu += other.on_cpu;
        self.thread_exited |= other.thread_exited;
        self.threads = self.threads.max(other.threads);
    }
}

/// The CPU used between two samples, per event (and per invocation): see
/// [`cpu_use_fields`].
pub fn cpu_fields(
    before: Option<CpuSample>,
    after: Option<CpuSample>,
    events: usize,
    invocations: usize,
) -> Value {
    let (Some(before), Some(after)) = (before, after) else {
        return json!({"cpu_ms_per_event": null});
    };
    cpu_use_fields(&CpuUse::between(&before, &after), events, invocations)
}

/// CPU per event (and per invocation): the threads' on-CPU time, split
/// into user and system in the proportion of the clock ticks; the ticks
/// alone when a thread exited in between.
pub fn cpu_use_fields(used: &CpuUse, events: usize, invocations: usize) -> Value {
    let ticks = used.user + used.system;
    let total = used.total_ms();
    let user_share = if ticks.is_zero() {
        1.0
    } else {
        used.user.as_secs_f64() / ticks.as_secs_f64()
    };
    let per = |d: f64, n: usize| d / n.max(1) as f64;
    json!({
        "cpu_ms_per_event": per(total, events),
        "user_ms_per_event": per(total * user_share, events),
        "system_ms_per_event": per(total * (1.0 - user_share), events),
        "cpu_ms_per_invocation": per(total, invocations),
        "cpu_ms_per_event_ticks": per(ms(ticks), events),
        "cpu_source": if used.thread_exited { "ticks (a thread exited)" } else { "schedstat" },
        "threads": used.threads,
    })
}
